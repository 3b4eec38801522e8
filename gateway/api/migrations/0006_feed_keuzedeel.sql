-- Keuzedelen, exam results and diplomas in the feed (issue 13): a feed item about a keuzedeel
-- names its code (`K` and four digits). A code, never personal data.

ALTER TABLE api_feed ADD COLUMN IF NOT EXISTS keuzedeel text;
