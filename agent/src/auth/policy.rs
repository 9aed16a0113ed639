//! IAM identity policies per principal (`policies.json`) and their evaluation.
//!
//! File: `{ "<principal ARN>": {"Version": "2012-10-17", "Statement": [ … ]} }`. Each statement
//! has `Effect` (`Allow`|`Deny`), exactly one of `Action`/`NotAction` and exactly one of
//! `Resource`/`NotResource` (a string or a list of strings), optionally `Sid`.
//!
//! Evaluation is IAM's for identity policies: default deny; a matching `Deny` statement wins over
//! any `Allow`; otherwise a matching `Allow` allows. `*` matches any run of characters, `?` one
//! character; actions match case-insensitively (`cloudtrail:describetrails` matches
//! `cloudtrail:DescribeTrails`), resources case-sensitively.
//!
//! Invariant: what we cannot evaluate is refused at load with an error naming the principal and
//! the statement, never ignored: `Condition`, `Principal`/`NotPrincipal` (not valid in identity
//! policies), unknown keys, policy variables (`${…}` under `2012-10-17`), a `Version` other than
//! `2012-10-17`/`2008-10-17` (absent means `2008-10-17`, as in IAM).

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::AuthLoadError;

/// Outcome of [`Policies::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows and none denies.
    Allow,
    /// No statement applies (default deny).
    ImplicitDeny,
    /// A `Deny` statement applies.
    ExplicitDeny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// A list of patterns, or its negation (`NotAction`/`NotResource`).
#[derive(Debug, Clone)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

impl Patterns {
    fn matches(&self, value: &str, case_insensitive: bool) -> bool {
        let any = self.patterns.iter().any(|p| {
            if case_insensitive {
                glob(p.as_bytes(), value.to_ascii_lowercase().as_bytes())
            } else {
                glob(p.as_bytes(), value.as_bytes())
            }
        });
        any != self.negated
    }
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    actions: Patterns,
    resources: Patterns,
}

/// All principals' policies.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    by_principal: HashMap<String, Vec<Statement>>,
}

/// `*` any run (possibly empty), `?` exactly one byte; everything else literal.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

struct Ctx<'a> {
    path: &'a Path,
    principal: &'a str,
}

impl Ctx<'_> {
    fn err(&self, statement: Option<(usize, Option<&str>)>, message: String) -> AuthLoadError {
        let at = match statement {
            None => String::new(),
            Some((n, None)) => format!(", statement {n}"),
            Some((n, Some(sid))) => format!(", statement {n} (Sid {sid:?})"),
        };
        AuthLoadError::Policy {
            path: self.path.to_path_buf(),
            principal: self.principal.to_string(),
            message: format!("{}{at}: {message}", self.principal),
        }
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>(),
        _ => None,
    }
}

fn parse_statement(
    ctx: &Ctx<'_>,
    n: usize,
    st: &Map<String, Value>,
    variables: bool,
) -> Result<Statement, AuthLoadError> {
    let sid = st.get("Sid").and_then(Value::as_str);
    let at = Some((n, sid));
    for key in st.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" => {}
            "Condition" => {
                return Err(ctx.err(
                    at,
                    "Condition blocks are not supported (refused rather than ignored)".into(),
                ));
            }
            "Principal" | "NotPrincipal" => {
                return Err(ctx.err(
                    at,
                    format!("{key} is not allowed in an identity-based policy"),
                ));
            }
            other => return Err(ctx.err(at, format!("unknown key {other:?}"))),
        }
    }
    if st.get("Sid").is_some_and(|s| !s.is_string()) {
        return Err(ctx.err(at, "Sid must be a string".into()));
    }
    let effect = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => {
            return Err(ctx.err(
                at,
                format!("Effect must be \"Allow\" or \"Deny\", not {other:?}"),
            ));
        }
        None => return Err(ctx.err(at, "Effect is required".into())),
    };
    let pick = |pos: &str, neg: &str| -> Result<Patterns, AuthLoadError> {
        let (negated, value) = match (st.get(pos), st.get(neg)) {
            (Some(v), None) => (false, v),
            (None, Some(v)) => (true, v),
            (Some(_), Some(_)) => {
                return Err(ctx.err(at, format!("{pos} and {neg} cannot both be present")));
            }
            (None, None) => return Err(ctx.err(at, format!("{pos} or {neg} is required"))),
        };
        let key = if negated { neg } else { pos };
        let patterns = string_list(value).ok_or_else(|| {
            ctx.err(
                at,
                format!("{key} must be a string or a non-empty list of strings"),
            )
        })?;
        if let Some(p) = patterns.iter().find(|p| variables && p.contains("${")) {
            return Err(ctx.err(
                at,
                format!("policy variables are not supported ({key} {p:?})"),
            ));
        }
        Ok(Patterns { negated, patterns })
    };
    let mut actions = pick("Action", "NotAction")?;
    if let Some(bad) = actions.patterns.iter().find(|a| {
        a.as_str() != "*"
            && !a
                .split_once(':')
                .is_some_and(|(svc, name)| !svc.is_empty() && !name.is_empty())
    }) {
        return Err(ctx.err(
            at,
            format!("action {bad:?} must be \"*\" or \"<service>:<action>\""),
        ));
    }
    for a in &mut actions.patterns {
        a.make_ascii_lowercase();
    }
    let resources = pick("Resource", "NotResource")?;
    if let Some(bad) = resources
        .patterns
        .iter()
        .find(|r| r.as_str() != "*" && !r.starts_with("arn:"))
    {
        return Err(ctx.err(at, format!("resource {bad:?} must be \"*\" or an ARN")));
    }
    Ok(Statement {
        effect,
        actions,
        resources,
    })
}

fn parse_document(ctx: &Ctx<'_>, doc: &Value) -> Result<Vec<Statement>, AuthLoadError> {
    let Some(doc) = doc.as_object() else {
        return Err(ctx.err(None, "the policy must be a JSON object".into()));
    };
    for key in doc.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(ctx.err(None, format!("unknown policy key {key:?}")));
        }
    }
    let variables = match doc.get("Version") {
        None => false,
        Some(Value::String(v)) if v == "2008-10-17" => false,
        Some(Value::String(v)) if v == "2012-10-17" => true,
        Some(v) => {
            return Err(ctx.err(
                None,
                format!("Version must be \"2012-10-17\" or \"2008-10-17\", not {v}"),
            ));
        }
    };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(_) => {
            return Err(ctx.err(
                None,
                "Statement must be an object or a list of objects".into(),
            ));
        }
        None => return Err(ctx.err(None, "Statement is required".into())),
    };
    statements
        .iter()
        .enumerate()
        .map(|(i, st)| match st.as_object() {
            Some(m) => parse_statement(ctx, i + 1, m, variables),
            None => Err(ctx.err(Some((i + 1, None)), "a statement must be an object".into())),
        })
        .collect()
}

impl Policies {
    /// Parses a policies file's text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, AuthLoadError> {
        let root: Value = serde_json::from_str(text)
            .map_err(|e| AuthLoadError::invalid(path, format!("not valid JSON: {e}")))?;
        let Some(root) = root.as_object() else {
            return Err(AuthLoadError::invalid(
                path,
                "expected an object mapping principal ARNs to policy documents",
            ));
        };
        let mut by_principal = HashMap::new();
        for (principal, doc) in root {
            let ctx = Ctx { path, principal };
            if super::credentials::principal_account(principal).is_none() {
                return Err(ctx.err(
                    None,
                    "the key must be an IAM principal ARN (arn:aws:iam::<account>:user/<name>)"
                        .into(),
                ));
            }
            by_principal.insert(principal.clone(), parse_document(&ctx, doc)?);
        }
        Ok(Self { by_principal })
    }

    /// Loads `path`; a missing file is an empty set (everything denied).
    pub fn load(path: &Path) -> Result<Self, AuthLoadError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(AuthLoadError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Number of principals with a policy.
    pub fn len(&self) -> usize {
        self.by_principal.len()
    }

    /// `true` when no principal has a policy.
    pub fn is_empty(&self) -> bool {
        self.by_principal.is_empty()
    }

    /// IAM's decision for `principal` doing `action` (`cloudtrail:CreateTrail`) on `resource`.
    pub fn evaluate(&self, principal: &str, action: &str, resource: &str) -> Decision {
        let Some(statements) = self.by_principal.get(principal) else {
            return Decision::ImplicitDeny;
        };
        let mut allowed = false;
        for st in statements {
            if st.actions.matches(action, true) && st.resources.matches(resource, false) {
                match st.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    /// The default policy of a first start: `cloudtrail:*` on `*` for `principal`.
    pub fn admin_json(principal: &str) -> String {
        let doc = serde_json::json!({
            principal: {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"}]
            }
        });
        let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
        s.push('\n');
        s
    }
}
