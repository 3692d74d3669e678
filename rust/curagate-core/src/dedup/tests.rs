use super::*;

const BASE: &str =
    "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat \
                    near the old wooden door of the small house by the river where children play \
                    every summer afternoon and fishermen mend their nets before the evening tide \
                    rolls in over the grey stones of the harbour wall under a pale sky";

fn run(cfg: DedupConfig, keys: &[&str], priorities: &[f64]) -> DedupOutput {
    let mut d = Deduper::new(cfg).unwrap();
    // Two batches, to exercise state carried across batches.
    let mid = keys.len() / 2;
    d.add(&keys[..mid], &priorities[..mid]).unwrap();
    d.add(&keys[mid..], &priorities[mid..]).unwrap();
    d.finish().unwrap()
}

fn near_copy() -> String {
    BASE.replace("warm mat", "warm rug")
}

#[test]
fn exact_copies_after_normalization_are_removed_as_exact() {
    let shouted = BASE.to_uppercase() + "!!!";
    let keys = [
        BASE,
        "something else entirely different here",
        shouted.as_str(),
    ];
    let out = run(DedupConfig::default(), &keys, &[0.0; 3]);
    assert_eq!(
        out.status,
        [Status::Kept as u8, Status::Kept as u8, Status::Exact as u8]
    );
    assert_eq!(out.kept_index[2], 0);
    assert_eq!(out.similarity[2], 1.0);
    assert_eq!(out.stats.exact_removed, 1);
}

#[test]
fn near_copies_are_clustered_and_verified() {
    let near = near_copy();
    let keys = [
        BASE,
        near.as_str(),
        "a completely unrelated record about tax law in the old republic",
    ];
    let out = run(DedupConfig::default(), &keys, &[0.0; 3]);
    assert_eq!(out.status[1], Status::Near as u8);
    assert_eq!(out.kept_index[1], 0);
    assert!(
        out.similarity[1] >= 0.7 && out.similarity[1] < 1.0,
        "{}",
        out.similarity[1]
    );
    assert_eq!(out.status[2], Status::Kept as u8);
    assert_eq!(out.stats.near_clusters, 1);
}

#[test]
fn chinese_near_copies_are_found_on_character_shingles() {
    // No spaces: before characters were words, each text was one "word", so only an
    // exact copy could match. One character changed in 120 is a near copy.
    let base: String =
        "小明在学校图书馆借了三本关于天文学的书他每天晚上都会读一章并且把重要的内容记在笔记本上"
            .repeat(3)
            .chars()
            .take(120)
            .collect();
    let near: String = base
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 60 { '猫' } else { c })
        .collect();
    let keys = [
        base.as_str(),
        near.as_str(),
        "完全不同的一句话讲的是今天的天气很好适合去公园散步",
    ];
    let out = run(DedupConfig::default(), &keys, &[0.0; 3]);
    assert_eq!(out.status[1], Status::Near as u8, "{:?}", out.similarity);
    assert_eq!(out.kept_index[1], 0);
    assert_eq!(out.status[2], Status::Kept as u8);
}

#[test]
fn highest_priority_survives_ties_go_to_the_first() {
    let near = near_copy();
    let keys = [BASE, near.as_str(), BASE];
    let out = run(DedupConfig::default(), &keys, &[1.0, 5.0, 1.0]);
    // Record 2 repeats record 0, which is a near copy of the survivor: so is record 2,
    // at the same similarity (only copies of the survivor itself are exact).
    assert_eq!(
        out.status,
        [Status::Near as u8, Status::Kept as u8, Status::Near as u8]
    );
    assert_eq!(out.kept_index, [1, 1, 1]);
    assert!(out.similarity[0] < 1.0 && out.similarity[2] == out.similarity[0]);
    let out = run(DedupConfig::default(), &keys, &[0.0, 0.0, 0.0]);
    assert_eq!(
        out.status,
        [Status::Kept as u8, Status::Near as u8, Status::Exact as u8]
    );
}

#[test]
fn dissimilar_records_sharing_a_band_are_rejected_by_verification() {
    // With one band of one row, every pair sharing a single min-hash is a
    // candidate; verification must reject the dissimilar ones.
    let cfg = DedupConfig {
        bands_rows: Some((1, 1)),
        num_perm: 64,
        ..Default::default()
    };
    let keys = [
        "alpha beta gamma delta epsilon zeta",
        "alpha beta gamma delta epsilon eta theta iota kappa lambda",
    ];
    let out = run(cfg, &keys, &[0.0; 2]);
    assert_eq!(out.status, [Status::Kept as u8, Status::Kept as u8]);
}

#[test]
fn exact_verification_uses_true_jaccard() {
    let near = near_copy();
    let cfg = DedupConfig {
        verify: Verify::Exact,
        ..Default::default()
    };
    let out = run(cfg, &[BASE, near.as_str()], &[0.0; 2]);
    assert_eq!(out.status[1], Status::Near as u8);
    // 58 words, 54 distinct 5-gram shingles; replacing one word swaps 5 of them.
    let expected = 49.0 / 59.0;
    assert!(
        (out.similarity[1] as f64 - expected).abs() < 1e-6,
        "{}",
        out.similarity[1]
    );
}

#[test]
fn spilling_gives_the_same_result_as_memory() {
    let texts: Vec<String> = (0..4000)
        .map(|i| {
            format!(
                "{BASE} record number {} variant {}",
                i / 3,
                if i % 3 == 0 { "x" } else { "y z" }
            )
        })
        .collect();
    let keys: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let pr = vec![0.0; keys.len()];
    let in_memory = run(DedupConfig::default(), &keys, &pr);
    let spilled = run(
        DedupConfig {
            memory_budget: 0,
            ..Default::default()
        },
        &keys,
        &pr,
    );
    assert!(spilled.stats.spilled_bytes > 0);
    assert_eq!(in_memory.stats.spilled_bytes, 0);
    assert_eq!(in_memory.status, spilled.status);
    assert_eq!(in_memory.kept_index, spilled.kept_index);
    assert!(in_memory.stats.exact_removed + in_memory.stats.near_removed > 0);
}

#[test]
fn empty_keys_are_deduplicated_by_their_raw_text_and_not_sketched() {
    // "!!!", "???" and "\u{1F600}" all normalize to nothing: they are different
    // texts, not copies; only the byte-identical "!!!" is one.
    let keys = ["!!!", "???", BASE, "\u{1F600}", "!!!", "!!! "];
    let out = run(DedupConfig::default(), &keys, &[0.0; 6]);
    let (k, e) = (Status::Kept as u8, Status::Exact as u8);
    assert_eq!(out.status, [k, k, k, k, e, k]);
    assert_eq!(out.kept_index[4], 0);
    assert_eq!(out.stats.empty_keys, 4);
    // Exact only: the same groups.
    let cfg = DedupConfig {
        near: false,
        ..Default::default()
    };
    assert_eq!(run(cfg, &keys, &[0.0; 6]).status, [k, k, k, k, e, k]);
}

#[test]
fn exact_only_mode_never_near_clusters() {
    let near = near_copy();
    let cfg = DedupConfig {
        near: false,
        ..Default::default()
    };
    let out = run(cfg, &[BASE, near.as_str(), BASE], &[0.0; 3]);
    assert_eq!(
        out.status,
        [Status::Kept as u8, Status::Kept as u8, Status::Exact as u8]
    );
}

#[test]
fn bad_parameters_are_named() {
    let err = Deduper::new(DedupConfig {
        threshold: 1.5,
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("threshold"));
    let err = Deduper::new(DedupConfig {
        bands_rows: Some((20, 9)),
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("bands"));
}

#[test]
fn adding_after_finish_is_an_error() {
    let mut d = Deduper::new(DedupConfig::default()).unwrap();
    d.finish().unwrap();
    assert!(matches!(d.add(&["x"], &[0.0]), Err(Error::Finished)));
}

#[test]
fn early_exit_jaccard_gives_the_same_verdicts() {
    // Overlapping ranges of every size and shift, at several thresholds.
    for la in [1u32, 5, 40, 200] {
        for lb in [1u32, 7, 50, 190] {
            for shift in [0u32, 1, 3, 20, 100] {
                let a: Vec<u32> = (0..la).map(|x| x * 3).collect();
                let b: Vec<u32> = (0..lb).map(|x| (x + shift) * 3).collect();
                for t in [0.3, 0.5, 0.7, 0.9, 1.0] {
                    assert_eq!(
                        exact_jaccard_at_least(&a, &b, t),
                        exact_jaccard(&a, &b) >= t,
                        "{la} {lb} {shift} {t}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_pair_of_a_templated_bucket_is_a_candidate_up_to_the_cap() {
    // 40 records sharing one band value (a templated bucket): a record whose only near
    // duplicate is another member must get that pair, whatever their positions.
    let bucket: Vec<(u64, u32)> = (0..40).map(|i| (7, i)).collect();
    let pairs = super::candidate_pairs(bucket);
    assert_eq!(pairs.len(), 40 * 39 / 2);
    assert!(pairs.contains(&(17, 35)));
}

#[test]
fn a_bucket_above_the_cap_is_linked_in_linear_pairs() {
    let n = super::ALL_PAIRS_MAX as u32 + 1;
    let pairs = super::candidate_pairs((0..n).map(|i| (7, i)).collect());
    // A star on the first member plus a chain: 2n - 3 distinct pairs, still connected.
    assert_eq!(pairs.len(), 2 * n as usize - 3);
    assert!(pairs.iter().all(|&(a, b)| a == 0 || b == a + 1));
}

#[test]
fn group_table_numbers_hashes_in_order_of_first_appearance() {
    let mut table = GroupTable::default();
    let mut reference = std::collections::HashMap::new();
    for i in 0..50_000u128 {
        // Repeats, and hashes that collide in their low bits.
        let h = ((i % 7_000) << 64) | ((i % 3_000) << 20);
        let next = reference.len() as u32;
        let want = *reference.entry(h).or_insert(next);
        assert_eq!(table.contains(h), want < next);
        assert_eq!(table.find_or_insert(h), want);
        assert!(table.contains(h));
    }
    assert!(!table.contains(u128::MAX));
    assert_eq!(table.len(), reference.len());
}

#[test]
fn finish_releases_the_per_record_state() {
    let keys = [BASE, "another text with enough words to shingle"];
    let mut d = Deduper::new(DedupConfig::default()).unwrap();
    d.add(&keys, &[0.0; 2]).unwrap();
    d.finish().unwrap();
    assert_eq!(d.records(), 2);
    assert_eq!(d.record_group.capacity(), 0);
    assert!(d.verify_data.is_empty());
    assert!(d.finish().is_err());
}

#[test]
fn candidate_pairs_by_key_buckets_equal_the_sorting_reference() {
    // xorshift64*, fixed seed (no dev-dependency).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for round in 0..300 {
        let n_groups = 1 + next() % 3000;
        let n_keys = 1 + next() % if round % 4 == 0 { 4 } else { 2000 };
        // Keys: uniform, or adversarial (equal low bits, differing high bits).
        let keys: Vec<u64> = (0..n_keys)
            .map(|k| {
                if round % 3 == 0 {
                    (k << 40) | 5
                } else {
                    next()
                }
            })
            .collect();
        // Entries in group order (as the deduper pushes them), with repeated
        // (key, group) entries and buckets past ALL_PAIRS_MAX.
        let mut entries = Vec::new();
        for g in 0..n_groups as u32 {
            for _ in 0..1 + next() % 4 {
                entries.push((keys[(next() % n_keys) as usize], g));
            }
        }
        let want = super::candidate_pairs_by_sort(entries.clone());
        assert_eq!(
            super::candidate_pairs(entries.clone()),
            want,
            "round {round}"
        );
        // Any order: the reference path.
        entries.reverse();
        assert_eq!(super::candidate_pairs(entries), want);
    }
    assert!(super::candidate_pairs(vec![(1, 0)]).is_empty());
    assert!(super::candidate_pairs(Vec::new()).is_empty());
    assert_eq!(
        super::candidate_pairs(vec![(1, 0), (1, 0), (1, 3)]),
        [(0, 3)]
    );
}

#[test]
fn exact_copies_of_earlier_batches_skip_sketching_with_the_same_outcome() {
    // Near and exact copies spread so that exact copies arrive in later
    // batches than their originals (their sketches are skipped there).
    let near = near_copy();
    let shouted = BASE.to_uppercase();
    let keys: Vec<&str> = [
        BASE,
        near.as_str(),
        "an unrelated text of its own here",
        shouted.as_str(),
    ]
    .iter()
    .cycle()
    .take(40)
    .copied()
    .collect();
    let priorities: Vec<f64> = (0..keys.len()).map(|i| (i % 7) as f64).collect();
    let mut whole = Deduper::new(DedupConfig::default()).unwrap();
    whole.add(&keys, &priorities).unwrap();
    let whole = whole.finish().unwrap();
    let mut one_by_one = Deduper::new(DedupConfig::default()).unwrap();
    for (k, p) in keys.iter().zip(&priorities) {
        one_by_one.add(&[k], &[*p]).unwrap();
    }
    let one_by_one = one_by_one.finish().unwrap();
    assert_eq!(whole.status, one_by_one.status);
    assert_eq!(whole.kept_index, one_by_one.kept_index);
    assert_eq!(whole.similarity, one_by_one.similarity);
    assert_eq!(whole.stats, one_by_one.stats);
    assert!(whole.stats.exact_removed > 0 && whole.stats.near_removed > 0);
}

#[test]
fn records_with_other_media_are_never_copies() {
    let near = near_copy();
    // Rows 0-2 hold image 1, rows 3-5 image 2; row 6 none. The same words hold no
    // copy across images: only the copies within one image are removed.
    let keys = [BASE, BASE, near.as_str(), BASE, near.as_str(), BASE, BASE];
    let media = [1, 1, 1, 2, 2, 0xffff_ffff_ffff_ffff, 0];
    let mut d = Deduper::new(DedupConfig::default()).unwrap();
    d.add_with_media(&keys[..3], &[0.0; 3], Some(&media[..3]))
        .unwrap();
    d.add_with_media(&keys[3..], &[0.0; 4], Some(&media[3..]))
        .unwrap();
    let out = d.finish().unwrap();
    let (kept, exact, near) = (Status::Kept as u8, Status::Exact as u8, Status::Near as u8);
    assert_eq!(out.status, [kept, exact, near, kept, near, kept, kept]);
    assert_eq!(out.kept_index[4], 3);
    // Media 0 is no media: the same results as `add`.
    let mut plain = Deduper::new(DedupConfig::default()).unwrap();
    plain.add(&keys, &[0.0; 7]).unwrap();
    let mut zeros = Deduper::new(DedupConfig::default()).unwrap();
    zeros
        .add_with_media(&keys, &[0.0; 7], Some(&[0; 7]))
        .unwrap();
    assert_eq!(
        plain.finish().unwrap().status,
        zeros.finish().unwrap().status
    );
    // The staged sketch sees the same: other media, other content hash and band keys.
    let d = Deduper::new(DedupConfig::default()).unwrap();
    let s = d.sketch_batch(&[BASE, BASE], Some(&[1, 2])).unwrap();
    assert_ne!(s.hashes[0], s.hashes[1]);
    let bands = s.keys.len() / 2;
    assert!((0..bands).all(|b| s.keys[b] != s.keys[bands + b]));
    assert!(d.sketch_batch(&[BASE], Some(&[1, 2])).is_err());
}
