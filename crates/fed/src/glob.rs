//! Glob selectors over dot-separated parameter names.
//!
//! A pattern is a sequence of dot-separated segments. A segment `**` matches zero or more whole
//! name segments; in any other segment `*` matches any run of characters within one segment and
//! `?` exactly one character; everything else matches literally. So `"*.bn.*"` matches
//! `"block1.bn.weight"` but not `"a.block1.bn.weight"`, `"hyper.**"` matches every name under
//! `hyper`, and `"**.bn*.**"` matches a segment starting with `bn` at any depth.

use crate::error::{FedError, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: zero or more segments.
    Deep,
    /// A single-segment glob, as characters.
    Glob(Vec<char>),
}

/// A compiled name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    text: String,
    segments: Vec<Segment>,
}

impl NamePattern {
    /// Compile `text`; errors name the pattern.
    pub fn new(text: &str) -> Result<Self> {
        if text.is_empty() || text.split('.').any(str::is_empty) {
            return Err(FedError::field(
                "pattern",
                format!("{text:?}"),
                "must be non-empty dot-separated segments",
            ));
        }
        let segments = text
            .split('.')
            .map(|s| {
                if s == "**" {
                    Ok(Segment::Deep)
                } else if s.contains("**") {
                    Err(FedError::field(
                        "pattern",
                        format!("{text:?}"),
                        format!("`**` must be a whole segment (found {s:?})"),
                    ))
                } else {
                    Ok(Segment::Glob(s.chars().collect()))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            text: text.into(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let parts: Vec<Vec<char>> = name.split('.').map(|s| s.chars().collect()).collect();
        match_segments(&self.segments, &parts)
    }
}

fn match_segments(pat: &[Segment], name: &[Vec<char>]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((Segment::Deep, rest)) => (0..=name.len()).any(|k| match_segments(rest, &name[k..])),
        Some((Segment::Glob(g), rest)) => match name.split_first() {
            Some((first, tail)) => match_chars(g, first) && match_segments(rest, tail),
            None => false,
        },
    }
}

/// `*`/`?` wildcard match of one segment (iterative with backtracking to the last `*`).
fn match_chars(p: &[char], s: &[char]) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < s.len() {
        if i < p.len() && (p[i] == '?' || p[i] == s[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

impl Serialize for NamePattern {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for NamePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NamePattern::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        NamePattern::new(p).unwrap().matches(n)
    }

    #[test]
    fn single_segment_wildcards() {
        assert!(m("*.bn.*", "block1.bn.weight"));
        assert!(!m("*.bn.*", "a.block1.bn.weight"));
        assert!(!m("*.bn.*", "block1.bn"));
        assert!(m("block?.w", "block7.w"));
        assert!(!m("block?.w", "block17.w"));
        assert!(m("block*.w", "block.w"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("*norm*", "layernorm2"));
        assert!(!m("x", "x.y"));
    }

    #[test]
    fn deep_segments() {
        assert!(m("hyper.**", "hyper.fc1.weight"));
        assert!(m("hyper.**", "hyper"));
        assert!(!m("hyper.**", "hypernet.fc1"));
        assert!(m("**.bn*.**", "bn.weight"));
        assert!(m("**.bn*.**", "enc.block2.bn1.running_mean"));
        assert!(!m("**.bn*.**", "enc.block2.conv.weight"));
        assert!(m("**", "anything.at.all"));
        assert!(m("a.**.z", "a.z"));
        assert!(m("a.**.z", "a.b.c.z"));
        assert!(!m("a.**.z", "a.b.c"));
    }

    #[test]
    fn bad_patterns_are_named() {
        for p in ["", "a..b", "a.b**", ".x"] {
            let e = NamePattern::new(p).unwrap_err().to_string();
            assert!(e.contains("pattern"), "{e}");
        }
        let e = NamePattern::new("x.a**").unwrap_err().to_string();
        assert!(e.contains("a**"), "{e}");
    }
}
