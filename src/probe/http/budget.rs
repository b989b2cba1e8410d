//! A bound on what a `--json-path` query may cost on a body, known before it runs.
//!
//! serde_json_path evaluates a query segment by segment and keeps every intermediate node list;
//! it has no budget. Each descendant segment (`..`) can multiply the list by the body's size, so
//! `$..*..*` on a 60 KB nested body made millions of nodes (and their copies 2.4 GB), and one more
//! `..*` aborted kwait. The server chooses the body, so the cost must be bounded before the query
//! runs: the query's text (already validated by serde_json_path) is read again into its segments
//! and selectors, and with three figures of the body (nodes N, widest container F, and T, the sum
//! of every node's subtree size, i.e. Σ (depth + 1)) an upper bound of the nodes the evaluation
//! visits and produces is computed. Above [`BUDGET`] the query is not run; the check reports it
//! as a mismatch. A path on a usual body (`$.status`, `$..name`, `$.checks[*].ok`,
//! `$.items[?@.name == 'db']`) costs a few times N.
//!
//! The bound per segment, with `c` nodes in the list (and whether they are distinct nodes):
//! - child segment: each name or index selector yields at most one node per input, a wildcard,
//!   slice or filter at most F; from distinct inputs each selector yields distinct children, so
//!   at most N;
//! - descendant segment: it visits every node under each input: at most c·N, and from distinct
//!   inputs at most T (a node is visited once per ancestor in the list); each selector yields
//!   at most one node per visit (the children of a node are counted once);
//! - a filter runs its embedded queries once per candidate.

use serde_json::Value;

/// The most nodes one evaluation may visit and produce: a few hundred milliseconds and tens of
/// MiB at worst; a usual health body with a usual path stays far below it.
pub(crate) const BUDGET: f64 = 1_000_000.0;

/// The figures of a JSON value that bound a query's cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    /// Every value, the root included.
    pub nodes: f64,
    /// The most children of one array or object.
    pub fanout: f64,
    /// Σ over every node of its subtree size (= Σ (depth + 1)).
    pub total: f64,
    /// The deepest nesting (the root is 0).
    pub depth: usize,
}

impl Shape {
    /// Measures `v` (iteratively: no recursion on a server's nesting).
    pub(crate) fn of(v: &Value) -> Shape {
        let mut s = Shape {
            nodes: 0.0,
            fanout: 0.0,
            total: 0.0,
            depth: 0,
        };
        let mut stack = vec![(v, 0usize)];
        while let Some((v, d)) = stack.pop() {
            s.nodes += 1.0;
            s.total += (d + 1) as f64;
            s.depth = s.depth.max(d);
            match v {
                Value::Array(a) => {
                    s.fanout = s.fanout.max(a.len() as f64);
                    stack.extend(a.iter().map(|x| (x, d + 1)));
                }
                Value::Object(o) => {
                    s.fanout = s.fanout.max(o.len() as f64);
                    stack.extend(o.values().map(|x| (x, d + 1)));
                }
                _ => {}
            }
        }
        s.fanout = s.fanout.max(1.0);
        s
    }
}

/// The bound of evaluating `query` (a valid RFC 9535 query) on a value of this shape.
pub(crate) fn cost(query: &str, shape: &Shape) -> f64 {
    let mut p = Lexer {
        s: query.as_bytes(),
        i: 0,
    };
    match p.query() {
        Some(q) if p.rest_is_blank() => q.cost(shape).0,
        // Not understood here (it parsed in serde_json_path, so this is a gap of this reader):
        // bound it as if every `..`, `*`, `?` and `:` multiplied the list by the body's size.
        _ => {
            let k = query.matches("..").count()
                + query
                    .bytes()
                    .filter(|b| matches!(b, b'*' | b'?' | b':'))
                    .count();
            shape.nodes.powi(i32::try_from(k + 1).unwrap_or(i32::MAX))
        }
    }
}

/// A query (`$...` or `@...`) as far as its cost goes.
#[derive(Debug)]
struct Query(Vec<Segment>);

#[derive(Debug)]
struct Segment {
    descendant: bool,
    selectors: Vec<Selector>,
}

#[derive(Debug)]
enum Selector {
    /// A name or an index: at most one child.
    One,
    /// A wildcard or a slice: any number of children.
    Many,
    /// A filter: any number of children, and its embedded queries run per candidate.
    Filter(Vec<Query>),
}

impl Query {
    /// (work, nodes produced).
    fn cost(&self, shape: &Shape) -> (f64, f64) {
        let n = shape.nodes;
        let mut count = 1.0f64;
        let mut distinct = true;
        let mut work = 1.0f64;
        for seg in &self.0 {
            let s = seg.selectors.len() as f64;
            let (out, candidates) = if seg.descendant {
                let visits = if distinct {
                    (count * n).min(shape.total)
                } else {
                    count * n
                };
                work += visits;
                (s * visits, visits)
            } else {
                let per = |many: bool| {
                    let c = if many { count * shape.fanout } else { count };
                    if distinct { c.min(n) } else { c }
                };
                let out: f64 = seg
                    .selectors
                    .iter()
                    .map(|sel| per(!matches!(sel, Selector::One)))
                    .sum();
                work += count;
                (out, per(true))
            };
            for sel in &seg.selectors {
                if let Selector::Filter(queries) = sel {
                    let each: f64 = queries.iter().map(|q| q.cost(shape).0).sum::<f64>() + 1.0;
                    work += candidates * each;
                }
            }
            work += out;
            distinct = distinct && seg.selectors.len() == 1 && (!seg.descendant || count <= 1.0);
            count = out;
            if !work.is_finite() || work > 1e300 {
                return (f64::MAX, f64::MAX);
            }
        }
        (work, count)
    }
}

/// Reads the structure of a query that serde_json_path already accepted (lenient elsewhere).
struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at(&self, text: &str) -> bool {
        self.s[self.i.min(self.s.len())..].starts_with(text.as_bytes())
    }

    fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn rest_is_blank(&mut self) -> bool {
        self.blank();
        self.i >= self.s.len()
    }

    /// `$` or `@` and its segments.
    fn query(&mut self) -> Option<Query> {
        match self.peek() {
            Some(b'$' | b'@') => self.i += 1,
            _ => return None,
        }
        let mut segments = Vec::new();
        loop {
            let save = self.i;
            self.blank();
            let descendant = if self.at("..") {
                self.i += 2;
                true
            } else if self.at(".") {
                self.i += 1;
                false
            } else if self.at("[") {
                segments.push(Segment {
                    descendant: false,
                    selectors: self.bracket()?,
                });
                continue;
            } else {
                self.i = save;
                return Some(Query(segments));
            };
            let selectors = match self.peek() {
                Some(b'*') => {
                    self.i += 1;
                    vec![Selector::Many]
                }
                Some(b'[') if descendant => self.bracket()?,
                _ => {
                    let start = self.i;
                    while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
                    {
                        self.i += 1;
                    }
                    if self.i == start {
                        return None;
                    }
                    vec![Selector::One]
                }
            };
            segments.push(Segment {
                descendant,
                selectors,
            });
        }
    }

    /// `[sel, sel, ...]`, from the `[`.
    fn bracket(&mut self) -> Option<Vec<Selector>> {
        self.i += 1;
        let mut selectors = Vec::new();
        loop {
            self.blank();
            let sel = match self.peek()? {
                b'\'' | b'"' => {
                    self.string()?;
                    Selector::One
                }
                b'*' => {
                    self.i += 1;
                    Selector::Many
                }
                b'?' => {
                    self.i += 1;
                    Selector::Filter(self.filter()?)
                }
                _ => {
                    let start = self.i;
                    while !matches!(self.peek()?, b',' | b']') {
                        self.i += 1;
                    }
                    if self.s[start..self.i].contains(&b':') {
                        Selector::Many
                    } else {
                        Selector::One
                    }
                }
            };
            selectors.push(sel);
            self.blank();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(selectors);
                }
                _ => return None,
            }
        }
    }

    /// A filter expression up to its selector's end; returns the queries it embeds.
    fn filter(&mut self) -> Option<Vec<Query>> {
        let mut queries = Vec::new();
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'\'' | b'"' => self.string()?,
                b'$' | b'@' => queries.push(self.query()?),
                b'(' => {
                    depth += 1;
                    self.i += 1;
                }
                b')' => {
                    depth = depth.checked_sub(1)?;
                    self.i += 1;
                }
                b',' | b']' if depth == 0 => return Some(queries),
                _ => self.i += 1,
            }
        }
    }

    /// A quoted string with its escapes, from the quote.
    fn string(&mut self) -> Option<()> {
        let quote = self.peek()?;
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                c if c == quote => {
                    self.i += 1;
                    return Some(());
                }
                _ => self.i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serde_json_path::JsonPath;

    fn bodies() -> Vec<Value> {
        let mut deep = json!([1, 2, 3]);
        for i in 0..20 {
            deep = json!({"a": deep, "b": [i, {"c": i}], "name": "x"});
        }
        vec![
            json!({"status": "healthy", "checks": [{"name": "db", "ok": true}, {"name": "web", "ok": false}]}),
            json!([[1, [2, [3, [4]]]], {"a": {"a": {"a": [1, 2]}}}]),
            json!({"items": [{"name": "a", "items": [{"name": "b"}]}, {"name": "c"}], "n": 3}),
            json!(7),
            deep,
        ]
    }

    const QUERIES: &[&str] = &[
        "$",
        "$.status",
        "$['status', 'checks']",
        "$.checks[*].ok",
        "$.checks[0].name",
        "$.checks[-1:]",
        "$..name",
        "$..*",
        "$..*..*",
        "$..*..*..*",
        "$..[*]",
        "$..[0,1]",
        "$.items[?@.name == 'a']",
        "$..items[?@.name == 'a' && @..name]",
        "$..[?@..*]",
        "$..[?count(@..*) > 1]",
        "$..[?length(@.name) > 0].name",
        "$[?$..* && @..*]..*",
        "$ .checks [ * ] .ok",
        "$..['a','b']..*",
        "$..a..a..a",
        "$[?@.x == \"]\" || @.y == ']']",
        "$..*[1:]",
        "$[?length(@) > 1]",
        "$..[?value(@..name) == 'a']",
        "$..[?@.name && !@.ok][?@ == 'x', 0]",
        "$..[?(@.n > 1 || (@.ok == true))]",
        "$[\"it'ems\",'na\\'me']",
    ];

    #[test]
    fn the_bound_is_never_below_what_the_query_really_makes() {
        for body in bodies() {
            let shape = Shape::of(&body);
            for q in QUERIES {
                let path = JsonPath::parse(q).unwrap();
                let real = path.query(&body).all().len() as f64;
                let mut p = Lexer {
                    s: q.as_bytes(),
                    i: 0,
                };
                let parsed = p.query().unwrap();
                assert!(p.rest_is_blank(), "{q} not read to its end");
                let (work, out) = parsed.cost(&shape);
                assert!(out >= real, "{q} on {body}: bound {out} < {real}");
                assert!(work >= real, "{q}: work {work} < {real}");
            }
        }
    }

    #[test]
    fn usual_paths_on_a_wide_body_stay_within_the_budget() {
        // 64 KiB of a list of objects: about 10,000 nodes, 3 deep.
        let items: Vec<Value> = (0..2000)
            .map(|i| json!({"name": format!("n{i}"), "ok": true, "n": i}))
            .collect();
        let body = json!({"status": "ok", "items": items});
        let shape = Shape::of(&body);
        for q in [
            "$.status",
            "$..name",
            "$..*",
            "$.items[*].ok",
            "$..items[*].name",
            "$.items[?@.name == 'n7'].ok",
            "$..[?@.ok == true].name",
        ] {
            let c = cost(q, &shape);
            assert!(c < BUDGET, "{q}: {c}");
        }
        // Whereas a filter that walks the whole body per candidate does not.
        assert!(cost("$..[?$..*]", &shape) > BUDGET);
    }

    #[test]
    fn nested_descendants_on_a_deep_body_are_over_the_budget() {
        let mut body = json!((0..29_000).map(|_| 0).collect::<Vec<_>>());
        for _ in 0..100 {
            body = json!({ "a": body });
        }
        let shape = Shape::of(&body);
        assert_eq!(shape.depth, 101);
        assert!(cost("$..*", &shape) < BUDGET);
        assert!(cost("$..*..*", &shape) > BUDGET);
        assert!(cost("$..*..*..*", &shape) > BUDGET);
        // A query this reader does not follow gets the crude bound, not a free pass.
        assert!(cost("$..*..*(", &shape) > BUDGET);
    }
}
