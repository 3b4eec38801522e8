//! Safe, namespace-aware XML reading and writing on quick-xml.
//!
//! quick-xml's serde mapping ignores namespaces (crates.md), so partner XML is read with
//! [`quick_xml::NsReader`] into a small [`Element`] tree keyed by *namespace URI + local name*,
//! whatever prefixes the sender chose. The tree is built only after the guards:
//! size limit, UTF-8, and no DOCTYPE (so entity declarations are never seen, let alone expanded).
//! Documents here are small (a SOAP response, one TBG-i file of a few MB), so a tree is fine.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

use crate::error::MappingError;

/// One element: namespace URI, local name, attributes (local name → value), text and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI ("" when none).
    pub ns: String,
    /// Local name (without prefix).
    pub name: String,
    /// Attributes by local name (namespace declarations left out).
    pub attrs: Vec<(String, String)>,
    /// Concatenated, unescaped text content directly inside this element, trimmed.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// Children with this local name (any namespace).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child with this local name, if present and non-empty.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// The text of a required child; `path` is the parent's path for the error.
    pub fn require(&self, path: &str, name: &str) -> Result<&str, MappingError> {
        self.text_of(name)
            .ok_or_else(|| MappingError::missing(format!("{path}/{name}")))
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Checks this element's namespace.
    pub fn expect_ns(&self, ns: &str) -> Result<(), MappingError> {
        if self.ns == ns {
            Ok(())
        } else {
            Err(MappingError::WrongNamespace {
                element: self.name.clone(),
                expected: ns.to_owned(),
                got: self.ns.clone(),
            })
        }
    }
}

/// Checks size and UTF-8 before anything is parsed.
pub fn guard(input: &[u8], limit: usize) -> Result<&str, MappingError> {
    if input.len() > limit {
        return Err(MappingError::TooLarge {
            size: input.len(),
            limit,
        });
    }
    std::str::from_utf8(input).map_err(|e| MappingError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })
}

fn malformed(pos: u64, reason: impl ToString) -> MappingError {
    MappingError::Malformed {
        format: "XML",
        position: format!("byte {pos}"),
        reason: reason.to_string(),
    }
}

/// Maximum element nesting accepted (a guard against deeply nested input).
pub const MAX_DEPTH: usize = 64;

/// Parses a whole document into its root [`Element`], after [`guard`]. Refuses DOCTYPE, a
/// non-UTF-8 encoding declaration, nesting deeper than [`MAX_DEPTH`], and trailing elements.
pub fn parse(input: &[u8], limit: usize) -> Result<Element, MappingError> {
    let text = guard(input, limit)?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| malformed(pos, e))?;
        match event {
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = enc.to_ascii_lowercase();
                    if enc != "utf-8" && enc != "utf8" {
                        return Err(MappingError::invalid(
                            "xml declaration/encoding",
                            format!("only UTF-8 is accepted, the document declares {enc}"),
                        ));
                    }
                }
            }
            Event::DocType(_) => return Err(MappingError::DoctypeNotAllowed),
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(malformed(pos, "content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed(pos, "elements nested too deeply"));
                }
                let ns = match resolved {
                    ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
                    ResolveResult::Unbound => String::new(),
                    ResolveResult::Unknown(p) => {
                        return Err(malformed(pos, format!("undeclared namespace prefix {p}")));
                    }
                };
                let name = s.local_name().as_ref().to_owned();
                let mut attrs = Vec::new();
                for a in s.attributes() {
                    let a = a.map_err(|e| malformed(pos, e))?;
                    let key = a.key;
                    if key.as_ref() == "xmlns"
                        || key.prefix().is_some_and(|p| p.as_ref() == "xmlns")
                    {
                        continue;
                    }
                    let value = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| malformed(pos, e))?
                        .into_owned();
                    attrs.push((key.local_name().as_ref().to_owned(), value));
                }
                let el = Element {
                    ns,
                    name,
                    attrs,
                    ..Element::default()
                };
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| malformed(pos, "unexpected end tag"))?;
                let trimmed = el.text.trim();
                if trimmed.len() != el.text.len() {
                    el.text = trimmed.to_owned();
                }
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                } else if !t.xml10_content().trim().is_empty() {
                    return Err(malformed(pos, "text outside the root element"));
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                // quick-xml reports entity references separately; only the predefined and
                // character references are accepted (there are no declared entities).
                let top = stack
                    .last_mut()
                    .ok_or_else(|| malformed(pos, "reference outside the root element"))?;
                if let Some(ch) = r.resolve_char_ref().map_err(|e| malformed(pos, e))? {
                    top.text.push(ch);
                } else {
                    let ch = match r.xml10_content().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(malformed(pos, format!("undeclared entity &{other};")));
                        }
                    };
                    top.text.push(ch);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(malformed(
            reader.buffer_position(),
            "unexpected end of document",
        ));
    }
    root.ok_or_else(|| malformed(0, "no root element"))
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_by_namespace_whatever_the_prefix() {
        let a = br#"<a:Root xmlns:a="urn:x"><a:Kind>1</a:Kind></a:Root>"#;
        let b = br#"<Root xmlns="urn:x"><Kind>1</Kind></Root>"#;
        let (ra, rb) = (parse(a, 1000).unwrap(), parse(b, 1000).unwrap());
        assert_eq!(ra, rb);
        assert_eq!(ra.ns, "urn:x");
        assert_eq!(ra.text_of("Kind"), Some("1"));
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let x = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "boom">]><r>&e;</r>"#;
        assert_eq!(parse(x, 1000).unwrap_err(), MappingError::DoctypeNotAllowed);
        let y = br#"<r>&e;</r>"#;
        assert!(matches!(
            parse(y, 1000).unwrap_err(),
            MappingError::Malformed { .. }
        ));
    }

    #[test]
    fn unescapes_predefined_and_char_refs() {
        let x = "<r>van &apos;t Hof &amp; &#199;elik</r>".as_bytes();
        assert_eq!(parse(x, 1000).unwrap().text, "van 't Hof & Çelik");
    }

    #[test]
    fn guards_size_and_utf8() {
        assert!(matches!(
            parse(b"<r/>", 2).unwrap_err(),
            MappingError::TooLarge { size: 4, limit: 2 }
        ));
        assert!(matches!(
            parse(b"<r>\xff</r>", 100).unwrap_err(),
            MappingError::InvalidUtf8 { offset: 3 }
        ));
    }

    #[test]
    fn malformed_is_reported_with_position() {
        for bad in [&b"<r><a></r>"[..], b"<r>", b"", b"<r/><s/>", b"<p:r/>"] {
            assert!(
                matches!(parse(bad, 100).unwrap_err(), MappingError::Malformed { .. }),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

/// An element with its path, and typed accessors that name the field path in their errors. When
/// made with [`Node::in_ns`], every child must be in that namespace, and child nodes inherit it.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// The element.
    pub el: &'a Element,
    /// Its path, e.g. `Mutatiebericht/Inschrijving/Periode[2]`.
    pub path: String,
    ns: Option<&'a str>,
}

impl<'a> Node<'a> {
    /// A node without a namespace check.
    pub fn new(el: &'a Element, path: String) -> Self {
        Self { el, path, ns: None }
    }

    /// A node whose children must all be in namespace `ns` (checked here, and again for every
    /// child node made from it).
    pub fn in_ns(el: &'a Element, path: String, ns: &'a str) -> Result<Self, MappingError> {
        if let Some(c) = el.children.iter().find(|c| c.ns != ns) {
            return Err(MappingError::WrongNamespace {
                element: format!("{path}/{}", c.name),
                expected: ns.to_owned(),
                got: c.ns.clone(),
            });
        }
        Ok(Self {
            el,
            path,
            ns: Some(ns),
        })
    }

    /// A node for `el` at `path`, with this node's namespace rule.
    pub fn node(&self, el: &'a Element, path: String) -> Result<Self, MappingError> {
        match self.ns {
            Some(ns) => Self::in_ns(el, path, ns),
            None => Ok(Self::new(el, path)),
        }
    }

    /// The path of a child field.
    pub fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    /// Refuses children other than `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), MappingError> {
        match self
            .el
            .children
            .iter()
            .find(|c| !allowed.contains(&c.name.as_str()))
        {
            Some(c) => Err(MappingError::invalid(self.path(&c.name), "unknown element")),
            None => Ok(()),
        }
    }

    /// The text of a child; `None` when it is missing, empty or `xsi:nil`.
    pub fn opt(&self, name: &str) -> Option<&'a str> {
        let c = self.el.child(name)?;
        if c.attr("nil") == Some("true") || c.text.is_empty() {
            None
        } else {
            Some(c.text.as_str())
        }
    }

    /// The text of a required child.
    pub fn req(&self, name: &str) -> Result<&'a str, MappingError> {
        self.opt(name)
            .ok_or_else(|| MappingError::missing(self.path(name)))
    }

    /// A required child converted by `f(field path, text)`.
    pub fn with<T>(
        &self,
        name: &str,
        f: impl Fn(&str, &str) -> Result<T, MappingError>,
    ) -> Result<T, MappingError> {
        f(&self.path(name), self.req(name)?)
    }

    /// An optional child converted by `f(field path, text)`.
    pub fn opt_with<T>(
        &self,
        name: &str,
        f: impl Fn(&str, &str) -> Result<T, MappingError>,
    ) -> Result<Option<T>, MappingError> {
        self.opt(name).map(|v| f(&self.path(name), v)).transpose()
    }

    /// A required identifier (BSN, BRIN, crebo, …).
    pub fn id<T: std::str::FromStr<Err = knooppunt_registry::ids::IdError>>(
        &self,
        name: &str,
    ) -> Result<T, MappingError> {
        self.req(name)?
            .parse()
            .map_err(|e| MappingError::id(self.path(name), e))
    }

    /// An optional identifier.
    pub fn opt_id<T: std::str::FromStr<Err = knooppunt_registry::ids::IdError>>(
        &self,
        name: &str,
    ) -> Result<Option<T>, MappingError> {
        self.opt(name)
            .map(|v| v.parse().map_err(|e| MappingError::id(self.path(name), e)))
            .transpose()
    }

    /// A required child element as a node.
    pub fn child(&self, name: &str) -> Result<Node<'a>, MappingError> {
        let c = self
            .el
            .child(name)
            .ok_or_else(|| MappingError::missing(self.path(name)))?;
        self.node(c, self.path(name))
    }

    /// All children with this name as nodes, with indexed paths (`name[1]`, `name[2]`, …).
    pub fn children(&self, name: &str) -> Result<Vec<Node<'a>>, MappingError> {
        self.el
            .children
            .iter()
            .filter(|c| c.name == name)
            .enumerate()
            .map(|(i, c)| self.node(c, format!("{}/{name}[{}]", self.path, i + 1)))
            .collect()
    }
}
