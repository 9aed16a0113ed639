//! Micro benchmarks of the hot path, on the real corpus:
//!
//! * `validate`: routing-field extraction and every intake rule, per record;
//! * `gzip`: chunk compression at level 6, 1 MiB chunks and 16 KiB chunks with a 16 KiB
//!   dictionary (what the batcher does under memory pressure with many partitions);
//! * `sha256`: hashing log bytes for digests in 32 KiB chunks, one file at a time and two or
//!   four files interleaved (`LogHasher::update_many`).
//!
//! usage: `cargo run --release -p opentrail-benches --bin micro -- [CORPUS_RECORDS_JSONL]`
//! Each figure is the median of 7 timed passes after a warm-up pass.

use std::time::Instant;

use opentrail::digest::log_hash::LogHasher;
use opentrail::encode::gzip::ChunkCompressor;
use opentrail::record::{AccountId, Limits, validate};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<F: FnMut()>(mut f: F) -> f64 {
    f();
    median(
        (0..7)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/corpus/records.jsonl".into());
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let limits = Limits {
        max_record_bytes: 262_144,
        default_account: AccountId::parse("123456789012"),
    };
    let lines: Vec<&[u8]> = text
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let valid: Vec<&[u8]> = lines
        .iter()
        .copied()
        .filter(|l| validate(l, &limits).is_ok())
        .collect();
    let bytes: usize = valid.iter().map(|l| l.len()).sum();
    let reps = 20;
    let secs = time(|| {
        for _ in 0..reps {
            for l in &valid {
                std::hint::black_box(validate(l, &limits).is_ok());
            }
        }
    });
    let n = (valid.len() * reps) as f64;
    println!(
        "validate: {} records x {reps}: {:.0} ns/record, {:.0} MB/s, {:.2} CPU-s per million",
        valid.len(),
        secs / n * 1e9,
        (bytes * reps) as f64 / secs / 1e6,
        secs / n * 1e6
    );

    let joined: Vec<u8> = valid.join(&b","[..]);
    let mut data = Vec::new();
    while data.len() < 64 << 20 {
        data.extend_from_slice(&joined);
    }
    let variants = [
        ("1 MiB chunks", 1 << 20, 0usize),
        ("64 KiB chunks + 16 KiB dict", 64 << 10, 16 << 10),
        ("16 KiB chunks, no dict", 16 << 10, 0),
        ("16 KiB chunks + 4 KiB dict", 16 << 10, 4 << 10),
        ("16 KiB chunks + 16 KiB dict", 16 << 10, 16 << 10),
    ];
    for (label, chunk, dict) in variants {
        let mut c = ChunkCompressor::new(6);
        let mut out = Vec::with_capacity(data.len() / 4);
        let secs = time(|| {
            out.clear();
            let mut start = 0;
            while start < data.len() {
                let end = (start + chunk).min(data.len());
                let d = &data[start.saturating_sub(dict)..start];
                c.compress(d, &data[start..end], &mut out);
                start = end;
            }
        });
        let records = data.len() as f64 / (bytes as f64 / valid.len() as f64);
        println!(
            "gzip level 6, {label}: {:.0} MB/s, ratio {:.2}, {:.2} CPU-s per million records",
            data.len() as f64 / secs / 1e6,
            data.len() as f64 / out.len() as f64,
            secs / records * 1e6
        );
    }

    let per_record = bytes as f64 / valid.len() as f64;
    let chunk = 32 << 10;
    for lanes in [1usize, 2, 4] {
        let files: Vec<&[u8]> = data.chunks(data.len().div_ceil(lanes)).collect();
        let secs = time(|| {
            let mut hashers: Vec<LogHasher> = files.iter().map(|_| LogHasher::new()).collect();
            for at in (0..files[0].len()).step_by(chunk) {
                let mut group: Vec<(&mut LogHasher, &[u8])> = hashers
                    .iter_mut()
                    .zip(&files)
                    .map(|(h, f)| (h, &f[at.min(f.len())..(at + chunk).min(f.len())]))
                    .collect();
                LogHasher::update_many(&mut group);
            }
            std::hint::black_box(hashers.into_iter().map(LogHasher::finalize).count());
        });
        println!(
            "sha256 of log bytes, 32 KiB chunks, {lanes} file(s) at a time: {:.0} MB/s, {:.2} CPU-s per million records",
            data.len() as f64 / secs / 1e6,
            secs / (data.len() as f64 / per_record) * 1e6
        );
    }
}
