//! Property: whatever single field of whatever record is changed, `verify_chain` reports that
//! record's index as the first broken link.

use chrono::{DateTime, Utc};
use knooppunt_ops::audit::{GENESIS_HASH, record_hash};
use knooppunt_ops::{AuditEntry, AuditRecord, BrokenReason, Hop, verify_chain};
use knooppunt_ops::{ChainHead, verify_chain_with_head};
use proptest::prelude::*;
use uuid::Uuid;

fn build(hops: &[(usize, Option<u32>, Option<u64>)]) -> Vec<AuditRecord> {
    let id = Uuid::from_u128(0x1234);
    let at: DateTime<Utc> =
        DateTime::from_timestamp(1_796_000_000, 123_456_000).unwrap_or_default();
    let mut prev = GENESIS_HASH.to_owned();
    let mut out = Vec::new();
    for (i, (hop, attempt, duration)) in hops.iter().enumerate() {
        let mut entry = AuditEntry::for_message(id, Hop::ALL[*hop % Hop::ALL.len()])
            .at(at + chrono::Duration::milliseconds(i as i64))
            .partner("bron");
        entry.attempt = *attempt;
        entry.duration_ms = *duration;
        let seq = i as u64 + 1;
        let hash = record_hash(seq, &entry, &prev);
        out.push(AuditRecord {
            seq,
            entry,
            prev_hash: prev.clone(),
            hash: hash.clone(),
        });
        prev = hash;
    }
    out
}

fn hops() -> impl Strategy<Value = Vec<(usize, Option<u32>, Option<u64>)>> {
    prop::collection::vec(
        (
            0usize..17,
            prop::option::of(0u32..10),
            prop::option::of(0u64..100_000),
        ),
        1..12,
    )
}

proptest! {
    #[test]
    fn an_untouched_chain_verifies(h in hops()) {
        prop_assert!(verify_chain(&build(&h)).is_ok());
    }

    #[test]
    fn any_single_change_is_found_at_its_index(h in hops(), pick in any::<prop::sample::Index>(), field in 0usize..9) {
        let mut chain = build(&h);
        let i = pick.index(chain.len());
        let r = &mut chain[i];
        match field {
            0 => r.entry.hop = if r.entry.hop == Hop::Parked { Hop::Delivered } else { Hop::Parked },
            1 => r.entry.at += chrono::Duration::microseconds(1),
            2 => r.entry.partner = Some("duo".to_owned()),
            3 => r.entry.attempt = Some(r.entry.attempt.map_or(0, |a| a + 1)),
            4 => r.entry.duration_ms = r.entry.duration_ms.map_or(Some(1), |_| None),
            5 => r.entry.reason = Some("edited".to_owned()),
            6 => r.hash = "0".repeat(64),
            7 => r.prev_hash = "e".repeat(64),
            _ => r.seq += 1,
        }
        let err = verify_chain(&chain).unwrap_err();
        prop_assert_eq!(err.index, i);
        match field {
            7 => prop_assert_eq!(err.reason, BrokenReason::PrevHashMismatch),
            8 => prop_assert!(matches!(err.reason, BrokenReason::SequenceGap { .. }), "{:?}", err.reason),
            _ => prop_assert_eq!(err.reason, BrokenReason::HashMismatch),
        }
    }

    #[test]
    fn removing_a_record_is_found_where_it_was(h in hops(), pick in any::<prop::sample::Index>()) {
        let mut chain = build(&h);
        prop_assume!(chain.len() >= 2);
        let i = pick.index(chain.len() - 1); // not the last one: removing the tail is not a break
        chain.remove(i);
        let err = verify_chain(&chain).unwrap_err();
        prop_assert_eq!(err.index, i);
    }

    #[test]
    fn truncating_the_tail_is_found_against_the_head(h in hops(), keep in any::<prop::sample::Index>()) {
        let mut chain = build(&h);
        let last = chain.last().map(|r| ChainHead { seq: r.seq, hash: r.hash.clone() });
        prop_assert!(verify_chain_with_head(&chain, last.as_ref()).is_ok());
        let keep = keep.index(chain.len()); // 0 ..= len-1 records kept
        chain.truncate(keep);
        let err = verify_chain_with_head(&chain, last.as_ref()).unwrap_err();
        prop_assert_eq!(err.index, keep);
        prop_assert_eq!(err.reason, BrokenReason::TruncatedTail);
    }
}
