//! One document, many runs: every measured section of `bench/RESULTS.md` sits between
//! `<!-- section:NAME -->` and `<!-- /section:NAME -->`, so `bench --only NAME` can replace just
//! that section (with its own command, date and machine lines inside it) and the file stays one
//! document. The full run writes the same markers.

use std::fmt::Write as _;

/// The opening marker of a section.
pub fn begin(name: &str) -> String {
    format!("<!-- section:{name} -->")
}

/// The closing marker of a section.
pub fn end(name: &str) -> String {
    format!("<!-- /section:{name} -->")
}

/// `body` between the markers of `name`, ending with a newline.
pub fn wrap(name: &str, body: &str) -> String {
    format!("{}\n{}\n{}\n", begin(name), body.trim_end(), end(name))
}

/// Replaces the text between the markers of `name` in `doc` (the markers included) by
/// `body` between the markers; appends it, with its markers, when `doc` has none. A marker
/// that is there only half (an opening without its closing one, or twice) is an error: the
/// document was edited by hand, and guessing where the section ends could eat the rest.
pub fn splice(doc: &str, name: &str, body: &str) -> Result<String, String> {
    let (b, e) = (begin(name), end(name));
    let bs: Vec<usize> = doc.match_indices(&b).map(|(i, _)| i).collect();
    let es: Vec<usize> = doc.match_indices(&e).map(|(i, _)| i).collect();
    match (bs.as_slice(), es.as_slice()) {
        ([], []) => {
            let mut s = doc.trim_end().to_string();
            if !s.is_empty() {
                s.push_str("\n\n");
            }
            s.push_str(&wrap(name, body));
            Ok(s)
        }
        ([i], [j]) if i < j => {
            let rest = &doc[j + e.len()..];
            let rest = rest.strip_prefix('\n').unwrap_or(rest);
            Ok(format!("{}{}{rest}", &doc[..*i], wrap(name, body)))
        }
        _ => Err(format!(
            "the markers of section {name:?} are not one `{b}` followed by one `{e}` \
             ({} opening, {} closing): fix the file or pass --out",
            bs.len(),
            es.len()
        )),
    }
}

/// The lines that say where a section's figures come from when it was run on its own.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub command: String,
    pub date: String,
    pub elapsed: String,
    /// Machine, load and versions.
    pub machine: Vec<String>,
}

impl RunInfo {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "This section was run on its own: `{}`, {}, took {}. Absolute times on a shared \
             2-core machine are noise: read the ratios.\n",
            self.command, self.date, self.elapsed
        );
        for m in &self.machine {
            let _ = writeln!(s, "- {m}");
        }
        s
    }
}

/// `md` (a section starting with its `## ` heading) with `extra` inserted after the heading.
pub fn after_heading(md: &str, extra: &str) -> String {
    match md.split_once('\n') {
        Some((head, rest)) if head.starts_with('#') => {
            let rest = rest.trim_start_matches('\n');
            format!("{head}\n\n{}\n{rest}", extra.trim_end().to_string() + "\n")
        }
        _ => format!("{}\n\n{md}", extra.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# kwait benchmark\n\nintro\n\n<!-- section:chain -->\n## 7. old chain\n\nold figures\n<!-- /section:chain -->\n\n## How it is measured\n\n- method\n";

    #[test]
    fn a_section_replaces_only_the_text_between_its_markers() {
        let out = splice(DOC, "chain", "## 7. new chain\n\nnew figures\n").unwrap();
        assert_eq!(
            out,
            "# kwait benchmark\n\nintro\n\n<!-- section:chain -->\n## 7. new chain\n\nnew figures\n<!-- /section:chain -->\n\n## How it is measured\n\n- method\n"
        );
        // splicing the same again changes nothing
        assert_eq!(
            splice(&out, "chain", "## 7. new chain\n\nnew figures\n").unwrap(),
            out
        );
    }

    #[test]
    fn a_section_that_is_not_there_is_appended_with_its_markers() {
        let out = splice(DOC, "rollout", "## 8. rollout\n\nfigures").unwrap();
        assert!(out.starts_with(DOC.trim_end()), "{out}");
        assert!(
            out.ends_with("- method\n\n<!-- section:rollout -->\n## 8. rollout\n\nfigures\n<!-- /section:rollout -->\n"),
            "{out}"
        );
        // then it is replaced in place, the chain section untouched
        let again = splice(&out, "rollout", "## 8. rollout\n\nsecond").unwrap();
        assert!(again.contains("old figures"), "{again}");
        assert!(again.contains("second") && !again.contains("figures\n<!-- /section:rollout"));
        assert_eq!(again.matches("<!-- section:rollout -->").count(), 1);
        assert_eq!(
            splice("", "x", "body").unwrap(),
            "<!-- section:x -->\nbody\n<!-- /section:x -->\n"
        );
    }

    #[test]
    fn half_a_marker_pair_is_an_error_not_a_guess() {
        let open_only = "a\n<!-- section:chain -->\nb\n";
        assert!(splice(open_only, "chain", "x").is_err());
        let reversed = "<!-- /section:chain -->\n<!-- section:chain -->\n";
        assert!(splice(reversed, "chain", "x").is_err());
        let twice = format!("{DOC}{DOC}");
        assert!(splice(&twice, "chain", "x").is_err());
        // a name that is a prefix of another is another section
        let out = splice(DOC, "chai", "y").unwrap();
        assert!(out.contains("old figures") && out.ends_with("<!-- /section:chai -->\n"));
    }

    #[test]
    fn run_lines_go_right_under_the_heading() {
        let info = RunInfo {
            command: "cargo run --release -p testkit --bin bench -- --only chain".into(),
            date: "2026-11-30 07:00 UTC".into(),
            elapsed: "4m10s".into(),
            machine: vec!["machine: test".into()],
        };
        let md = after_heading("## 7. chain\n\nbody\n", &info.markdown());
        assert!(
            md.starts_with("## 7. chain\n\nThis section was run on its own: `cargo run --release -p testkit --bin bench -- --only chain`, 2026-11-30 07:00 UTC, took 4m10s."),
            "{md}"
        );
        assert!(md.contains("- machine: test\n\nbody\n"), "{md}");
    }
}
