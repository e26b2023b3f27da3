//! The parts of a report that labctl owns: each stands between two marker
//! lines that carry its name and a hash of its text as labctl wrote it. A
//! re-run replaces a part only while its text still has that hash; every
//! other byte of the file (and any part edited by hand) is left as it is.

/// The first words of a part's opening marker line.
const BEGIN: &str = "<!-- labctl:begin ";
/// The first words of a part's closing marker line.
const END: &str = "<!-- labctl:end ";
/// The end of a marker line.
const CLOSE: &str = " -->";

/// A part of the report that labctl writes: its name and its text (whole
/// lines, each ending with `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// Its name: letters, digits and `-`.
    pub name: String,
    /// Its text.
    pub body: String,
}

/// FNV-1a over the text with CRLF read as LF, so that an editor that
/// changes line endings does not make a part look edited.
fn hash(body: &str) -> String {
    let lf = body.replace("\r\n", "\n");
    format!("{:016x}", crate::fnv::fnv1a(lf.bytes()))
}

/// A part as it is written into the file: marker, text, marker.
pub(super) fn wrap(part: &Part) -> String {
    let h = hash(&part.body);
    format!(
        "{BEGIN}{name} {h}{CLOSE}\n{body}{END}{name} {h}{CLOSE}\n",
        name = part.name,
        body = part.body
    )
}

/// The name and hash of an opening marker line (its line ending removed).
fn opening(line: &str) -> Option<(&str, &str)> {
    let inner = line.strip_prefix(BEGIN)?.strip_suffix(CLOSE)?;
    let (name, h) = inner.split_once(' ')?;
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && h.len() == 16
        && h.chars().all(|c| c.is_ascii_hexdigit());
    ok.then_some((name, h))
}

/// A line without its ending (`\n` or `\r\n`).
fn bare(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// What a merge did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Merged {
    /// The new text of the file.
    pub text: String,
    /// Parts replaced with labctl's new text.
    pub refreshed: Vec<String>,
    /// Parts left as they are because their text was edited by hand.
    pub edited: Vec<String>,
}

/// `existing` with every part that labctl wrote and nobody edited replaced
/// by its new text from `fresh` (a part whose lines were all deleted is
/// filled again);
/// all else, byte for byte, as it was. A part `fresh` does not name is
/// left as it is.
pub(super) fn merge(existing: &str, fresh: &[Part]) -> Merged {
    let lines: Vec<&str> = existing.split_inclusive('\n').collect();
    let mut out = Merged::default();
    let mut i = 0;
    while i < lines.len() {
        let Some((name, h)) = opening(bare(lines[i])) else {
            out.text.push_str(lines[i]);
            i += 1;
            continue;
        };
        let closing = format!("{END}{name} {h}{CLOSE}");
        let Some(end) = (i + 1..lines.len()).find(|&j| bare(lines[j]) == closing) else {
            // No closing marker: nothing here is labctl's to replace.
            out.text.push_str(lines[i]);
            i += 1;
            continue;
        };
        let body: String = lines[i + 1..end].concat();
        let new = fresh.iter().find(|p| p.name == name);
        let pristine = hash(&body) == h || body.is_empty();
        match new {
            Some(part) if pristine => {
                let crlf = lines[i].ends_with("\r\n");
                let mut wrapped = wrap(part);
                if crlf {
                    wrapped = wrapped.replace('\n', "\r\n");
                }
                out.text.push_str(&wrapped);
                // A last line without its line ending stays without one.
                if !lines[end].ends_with('\n') {
                    let cut = if crlf { 2 } else { 1 };
                    out.text.truncate(out.text.len() - cut);
                }
                out.refreshed.push(name.to_string());
            }
            _ => {
                if new.is_some() {
                    out.edited.push(name.to_string());
                }
                out.text.push_str(&lines[i..=end].concat());
            }
        }
        i = end + 1;
    }
    out
}

/// The text of `text` outside the parts labctl may replace (the pristine
/// ones): what a re-run must keep byte for byte.
#[cfg(test)]
pub(crate) fn outside_pristine(text: &str) -> String {
    let mut blanked = Vec::new();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        if let Some((name, h)) = opening(bare(lines[i])) {
            let closing = format!("{END}{name} {h}{CLOSE}");
            if let Some(end) = (i + 1..lines.len()).find(|&j| bare(lines[j]) == closing) {
                let body: String = lines[i + 1..end].concat();
                if hash(&body) == h || body.is_empty() {
                    blanked.push(format!("[{name}]"));
                    i = end + 1;
                    continue;
                }
            }
        }
        blanked.push(lines[i].to_string());
        i += 1;
    }
    blanked.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, body: &str) -> Part {
        Part {
            name: name.into(),
            body: body.into(),
        }
    }

    #[test]
    fn a_pristine_part_is_refreshed_and_the_rest_kept_byte_for_byte() {
        let first = format!("# Title\nmine\n{}after\n", wrap(&part("toc", "- a\n- b\n")));
        let merged = merge(&first, &[part("toc", "- a\n- b\n- c\n")]);
        assert_eq!(
            merged.text,
            format!(
                "# Title\nmine\n{}after\n",
                wrap(&part("toc", "- a\n- b\n- c\n"))
            )
        );
        assert_eq!(merged.refreshed, ["toc"]);
        assert!(merged.edited.is_empty());
    }

    #[test]
    fn an_edited_part_is_kept_and_named() {
        let first = wrap(&part("d-task1", "```\n# not a heading\n```\n"));
        let edited = first.replace("# not a heading", "# my note");
        let merged = merge(&edited, &[part("d-task1", "new\n")]);
        assert_eq!(merged.text, edited);
        assert_eq!(merged.edited, ["d-task1"]);
    }

    #[test]
    fn an_emptied_part_is_filled_again() {
        let first = wrap(&part("toc", "- a\n"));
        let emptied = first.replace("- a\n", "");
        let merged = merge(&emptied, &[part("toc", "- b\n")]);
        assert_eq!(merged.text, wrap(&part("toc", "- b\n")));
    }

    #[test]
    fn crlf_files_stay_crlf_and_are_not_taken_for_edits() {
        let first = format!("x\n{}y\n", wrap(&part("toc", "- a\n"))).replace('\n', "\r\n");
        let merged = merge(&first, &[part("toc", "- b\n")]);
        assert_eq!(
            merged.text,
            format!("x\n{}y\n", wrap(&part("toc", "- b\n"))).replace('\n', "\r\n")
        );
    }

    #[test]
    fn broken_or_unknown_markers_are_text() {
        let body = wrap(&part("toc", "- a\n"));
        let no_end = body.lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(merge(&no_end, &[part("toc", "- b\n")]).text, no_end);
        let unknown = wrap(&part("mine", "- a\n"));
        assert_eq!(merge(&unknown, &[part("toc", "- b\n")]).text, unknown);
        let bad_hash = body.replace(&hash("- a\n"), "zzzzzzzzzzzzzzzz");
        assert_eq!(merge(&bad_hash, &[part("toc", "- b\n")]).text, bad_hash);
    }

    #[test]
    fn a_last_line_without_its_ending_keeps_none() {
        let first = wrap(&part("toc", "- a\n"));
        let trimmed = first.trim_end_matches('\n');
        let merged = merge(trimmed, &[part("toc", "- b\n")]);
        assert_eq!(
            merged.text,
            wrap(&part("toc", "- b\n")).trim_end_matches('\n')
        );
    }
}
