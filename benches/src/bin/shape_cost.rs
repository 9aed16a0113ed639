//! What the typed-field checks of issue #8 cost per record (`benches/README.md`, "Cost of the
//! typed-field checks").
//!
//! `opentrail::record::validate` runs the routing rules and the typed-field checks in one pass,
//! and the crate exposes no way to skip the checks. So this measures them by *masking*: for
//! every record it builds a twin of exactly the same length in which each member the checks
//! inspect has its key renamed to one the agent does not know (first letter upper-cased:
//! `"readOnly"` → `"ReadOnly"`). The JSON parser still reads every byte of the twin, but the
//! checks find nothing to check. `validate(original) − validate(twin)` is then the time of the
//! checks on that record, measured on the agent's own code.
//!
//! Masked: top-level `eventVersion`, `readOnly`, `managementEvent`, `resources`, `tlsDetails`,
//! `addendum`, `edgeDeviceDetails`, `insightDetails`; inside `userIdentity` every member typed by
//! the checks (`type`, `principalId`, `arn`, `accessKeyId`, `userName`, `invokedBy`,
//! `identityProvider`, `credentialId`, `sessionContext` with everything in it, `onBehalfOf`,
//! `inScopeOf`, `invokedByDelegate`). Not masked, so not in the difference: `eventID` (a record
//! without one gets a generated id, which costs more than the check) and `userIdentity` itself
//! (it is parsed anyway for the `accountId` routing fallback).
//!
//! usage: `cargo run --release -p opentrail-benches --bin shape_cost -- [RECORDS_JSONL ...]`
//! (default `../shared/corpus/records.jsonl`; a `benches/gen_corpus.py` output works too).
//! Prints per-record nanoseconds for all records and for the records that carry a
//! `sessionContext` (the most expensive kind), as the median of 15 interleaved passes.
//!
//! `--only none|full|masked --reps N` runs the same set-up and then N plain passes of one kind
//! (nothing is timed): run it under `valgrind --tool=callgrind` three times and the differences
//! of the instruction totals give instructions per record, independent of machine load.
//! `--breakdown` also masks one group of members at a time (on the records that have it).

use std::hint::black_box;
use std::time::Instant;

use opentrail::record::{AccountId, Limits, validate};

/// End-to-end CPU per record the percentages refer to: 11.04 CPU-s per million records, the
/// quiet-machine median of `benches/README.md` ("End to end on a quiet machine").
const E2E_NS_PER_RECORD: f64 = 11_040.0;

const TOP_MASKED: &[&str] = &[
    "eventVersion",
    "readOnly",
    "managementEvent",
    "resources",
    "tlsDetails",
    "addendum",
    "edgeDeviceDetails",
    "insightDetails",
];
const IDENTITY_MASKED: &[&str] = &[
    "type",
    "principalId",
    "arn",
    "accessKeyId",
    "userName",
    "invokedBy",
    "identityProvider",
    "credentialId",
    "sessionContext",
    "onBehalfOf",
    "inScopeOf",
    "invokedByDelegate",
];

/// Byte offsets of the first character of each member key (just after its opening quote) of
/// the object at depth 1, and of the object held by the top-level member `inner`, with the
/// key text. A minimal scanner for valid JSON (the records already passed `validate`).
fn member_keys<'a>(rec: &'a [u8], inner: &str) -> Vec<(usize, &'a [u8], bool)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    // Set while inside the value of top-level member `inner` (depth of its object).
    let mut inner_depth: Option<usize> = None;
    let mut expect_key = false;
    let mut last_top_key: &[u8] = b"";
    while i < rec.len() {
        match rec[i] {
            b'{' => {
                depth += 1;
                if depth == 2 && last_top_key == inner.as_bytes() && inner_depth.is_none() {
                    inner_depth = Some(2);
                }
                expect_key = true;
            }
            b'}' => {
                if inner_depth == Some(depth) {
                    inner_depth = None;
                    last_top_key = b"";
                }
                depth -= 1;
                expect_key = false;
            }
            b'[' => {
                depth += 1;
                expect_key = false;
            }
            b']' => {
                depth -= 1;
            }
            b',' => {
                // A comma inside an object at this depth is followed by a key; inside an array
                // it is not, but keys are only recorded at depth 1 and 2 of objects below.
                expect_key = true;
            }
            b':' => expect_key = false,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while rec[j] != b'"' {
                    j += if rec[j] == b'\\' { 2 } else { 1 };
                }
                let key = &rec[start..j];
                if expect_key {
                    if depth == 1 {
                        out.push((start, key, false));
                        last_top_key = key;
                    } else if depth == 2 && inner_depth == Some(2) {
                        out.push((start, key, true));
                    }
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Groups of masked members, for `--breakdown`: (label, top-level keys, userIdentity keys).
const GROUPS: &[(&str, &[&str], &[&str])] = &[
    ("userIdentity.sessionContext", &[], &["sessionContext"]),
    (
        "userIdentity string members",
        &[],
        &[
            "type",
            "principalId",
            "arn",
            "accessKeyId",
            "userName",
            "invokedBy",
            "identityProvider",
            "credentialId",
        ],
    ),
    (
        "userIdentity onBehalfOf/inScopeOf/invokedByDelegate",
        &[],
        &["onBehalfOf", "inScopeOf", "invokedByDelegate"],
    ),
    ("tlsDetails", &["tlsDetails"], &[]),
    ("resources", &["resources"], &[]),
    (
        "eventVersion/readOnly/managementEvent",
        &["eventVersion", "readOnly", "managementEvent"],
        &[],
    ),
    (
        "addendum/edgeDeviceDetails/insightDetails",
        &["addendum", "edgeDeviceDetails", "insightDetails"],
        &[],
    ),
];

/// The record with every checked member's key renamed (same length), or None when a renamed
/// key would collide with a member already present.
fn masked(rec: &[u8]) -> Option<Vec<u8>> {
    masked_only(rec, TOP_MASKED, IDENTITY_MASKED)
}

/// Like [`masked`], renaming only the given top-level and `userIdentity` members.
fn masked_only(rec: &[u8], top: &[&str], identity: &[&str]) -> Option<Vec<u8>> {
    let keys = member_keys(rec, "userIdentity");
    let mut out = rec.to_vec();
    for &(at, key, in_identity) in &keys {
        let list = if in_identity { identity } else { top };
        if list.iter().any(|k| k.as_bytes() == key) {
            let mut renamed = key.to_vec();
            renamed[0] = renamed[0].to_ascii_uppercase();
            if keys
                .iter()
                .any(|&(_, k, inner)| inner == in_identity && k == renamed.as_slice())
            {
                return None;
            }
            out[at] = renamed[0];
        }
    }
    Some(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per record of `validate` over `set`, one pass of `reps` repetitions.
fn pass(set: &[&[u8]], limits: &Limits, reps: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        for r in set {
            black_box(validate(black_box(r), limits).is_ok());
        }
    }
    t.elapsed().as_secs_f64() * 1e9 / (set.len() * reps) as f64
}

/// (full, masked, difference) ns per record: medians of interleaved passes.
fn measure(full: &[&[u8]], twin: &[&[u8]], limits: &Limits) -> (f64, f64, f64) {
    let reps = (200_000 / full.len()).max(1);
    pass(full, limits, reps);
    pass(twin, limits, reps);
    let (mut a, mut b, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        let x = pass(full, limits, reps);
        let y = pass(twin, limits, reps);
        a.push(x);
        b.push(y);
        d.push(x - y);
    }
    (median(a), median(b), median(d))
}

fn main() {
    let mut paths: Vec<String> = Vec::new();
    let mut only: Option<String> = None;
    let mut only_reps = 5usize;
    let mut breakdown = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--only" => only = args.next(),
            "--reps" => only_reps = args.next().and_then(|n| n.parse().ok()).unwrap_or(5),
            "--breakdown" => breakdown = true,
            _ => paths.push(a),
        }
    }
    if paths.is_empty() {
        paths.push("../shared/corpus/records.jsonl".into());
    }
    let limits = Limits {
        max_record_bytes: 262_144,
        default_account: AccountId::parse("123456789012"),
    };
    for path in paths {
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("cannot read {path}: {e}");
                std::process::exit(2);
            }
        };
        let mut originals: Vec<&[u8]> = Vec::new();
        let mut twins: Vec<Vec<u8>> = Vec::new();
        let mut skipped = 0;
        for line in text.split(|&c| c == b'\n') {
            let line = line.trim_ascii();
            let Ok(rec) = validate(line, &limits) else {
                continue;
            };
            // Records without an eventID get one generated: the twin would not be comparable.
            if rec.bytes.len() != line.len() {
                skipped += 1;
                continue;
            }
            let Some(twin) = masked(line) else {
                skipped += 1;
                continue;
            };
            // The twin must be accepted, filed the same way, and differ in key letters only.
            let t = validate(&twin, &limits).expect("masked twin is accepted");
            assert_eq!((t.account, t.region), (rec.account, rec.region));
            assert_eq!(t.bytes.len(), line.len());
            originals.push(line);
            twins.push(twin);
        }
        assert!(!originals.is_empty(), "{path}: no usable records");
        let twin_refs: Vec<&[u8]> = twins.iter().map(Vec::as_slice).collect();
        let changed = originals
            .iter()
            .zip(&twin_refs)
            .filter(|(a, b)| a != b)
            .count();
        let with_ctx: Vec<usize> = (0..originals.len())
            .filter(|&i| {
                member_keys(originals[i], "userIdentity")
                    .iter()
                    .any(|&(_, k, inner)| inner && k == b"sessionContext")
            })
            .collect();
        let bytes: usize = originals.iter().map(|r| r.len()).sum();
        if let Some(mode) = &only {
            let set = match mode.as_str() {
                "full" => &originals[..],
                "masked" => &twin_refs[..],
                "none" => &[][..],
                other => {
                    eprintln!("--only takes none, full or masked, not {other}");
                    std::process::exit(2);
                }
            };
            for _ in 0..only_reps {
                for r in set {
                    black_box(validate(black_box(r), &limits).is_ok());
                }
            }
            println!(
                "{path}: {} records, --only {mode} --reps {only_reps}",
                originals.len()
            );
            continue;
        }
        println!(
            "{path}: {} records ({} bytes on average; {skipped} skipped), {changed} with checked \
             members, {} with userIdentity.sessionContext",
            originals.len(),
            bytes / originals.len(),
            with_ctx.len()
        );
        let groups: [(&str, Vec<usize>); 2] = [
            ("all records", (0..originals.len()).collect()),
            ("with sessionContext", with_ctx),
        ];
        for (label, idx) in groups {
            if idx.is_empty() {
                continue;
            }
            let full: Vec<&[u8]> = idx.iter().map(|&i| originals[i]).collect();
            let twin: Vec<&[u8]> = idx.iter().map(|&i| twin_refs[i]).collect();
            let (f, m, d) = measure(&full, &twin, &limits);
            println!(
                "  {label:<20} validate {f:7.0} ns/record, checks masked {m:7.0} ns/record, \
                 checks {d:5.0} ns/record = {:.2}% of validate, {:.2}% of the end-to-end \
                 {E2E_NS_PER_RECORD:.0} ns/record",
                d / f * 100.0,
                d / E2E_NS_PER_RECORD * 100.0
            );
        }
        if breakdown {
            for (label, top, identity) in GROUPS {
                let (mut full, mut twin, mut owned) = (Vec::new(), Vec::new(), Vec::new());
                for r in &originals {
                    if let Some(t) = masked_only(r, top, identity) {
                        if t != *r {
                            full.push(*r);
                            owned.push(t);
                        }
                    }
                }
                if full.is_empty() {
                    println!("  {label}: no record has it");
                    continue;
                }
                twin.extend(owned.iter().map(Vec::as_slice));
                let (_, _, d) = measure(&full, &twin, &limits);
                println!(
                    "  only {label:<52} {:5} records have it: {d:5.0} ns/record there, \
                     {:4.0} ns/record over all",
                    full.len(),
                    d * full.len() as f64 / originals.len() as f64
                );
            }
        }
    }
}
