use super::*;

const GSM: &str = "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and \
bakes muffins for her friends every day with four. She sells the remainder at the farmers' market \
daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?";

fn config(methods: Methods) -> LeakageConfig {
    LeakageConfig {
        methods,
        ..LeakageConfig::default()
    }
}

fn only(exact: bool, ngram: bool, minhash: bool) -> Methods {
    Methods {
        exact,
        ngram,
        minhash,
    }
}

fn index(items: &[&str], config: LeakageConfig) -> ReferenceIndex {
    let mut b = ReferenceIndexBuilder::new(config).unwrap();
    b.add(items).unwrap();
    b.finish()
}

fn scan(index: &ReferenceIndex, records: &[&str]) -> Vec<Leak> {
    index.scan(records).unwrap()
}

#[test]
fn exact_matches_a_normalized_copy() {
    let idx = index(&[GSM], config(only(true, false, false)));
    let copy = GSM.to_uppercase().replace(' ', "  ").replace('.', "");
    let leaks = scan(&idx, &[&copy, "something else entirely"]);
    assert_eq!(leaks.len(), 1);
    assert!(leaks[0].exact && !leaks[0].ngram && !leaks[0].minhash);
    assert_eq!(leaks[0].record, 0);
}

#[test]
fn ngram_finds_an_item_inside_a_longer_record_with_offsets_into_both_originals() {
    let idx = index(&[GSM], config(only(false, true, false)));
    let prefix = "Question (answer step by step):\n\n";
    let record = format!("{prefix}{GSM}\nAnswer: 18");
    let leaks = scan(&idx, &[&record]);
    assert_eq!(leaks.len(), 1);
    let leak = &leaks[0];
    assert!(leak.ngram && !leak.exact);
    assert_eq!(leak.ratio, 1.0);
    let span = leak.longest.unwrap();
    let gsm_chars: Vec<char> = GSM.chars().collect();
    let rec_chars: Vec<char> = record.chars().collect();
    let item_text: String = gsm_chars[span.reference_start as usize..span.reference_end as usize]
        .iter()
        .collect();
    let record_text: String = rec_chars[span.record_start as usize..span.record_end as usize]
        .iter()
        .collect();
    assert_eq!(item_text, GSM);
    assert_eq!(record_text, GSM);
    assert_eq!(span.record_start as usize, prefix.chars().count());
}

#[test]
fn offsets_are_in_characters_of_the_unnormalized_text() {
    let item = "Ünïcödé wörds «quoted» and plenty more words so that thirteen are reached here now";
    let idx = index(&[item], config(only(false, true, false)));
    let record = format!("ÄÖÜ — intro: {}", item.to_uppercase());
    let leak = &scan(&idx, &[&record])[0];
    let span = leak.longest.unwrap();
    let rec: Vec<char> = record.chars().collect();
    let got: String = rec[span.record_start as usize..span.record_end as usize]
        .iter()
        .collect();
    assert_eq!(got, item.to_uppercase());
    assert_eq!(span.reference_start, 0);
    assert_eq!(span.reference_end as usize, item.chars().count());
}

#[test]
fn truncated_copy_reports_partial_ratio_and_the_longest_span() {
    let idx = index(&[GSM], config(only(false, true, false)));
    let words: Vec<&str> = GSM.split(' ').collect();
    let half = words[..30].join(" ");
    let leak = &scan(&idx, &[&half])[0];
    assert!(leak.ngram);
    assert_eq!(leak.shared_ngrams, 30 - 13 + 1);
    assert!(leak.ratio > 0.3 && leak.ratio < 0.7, "{}", leak.ratio);
    assert_eq!(leak.longest.unwrap().words, 30);
}

#[test]
fn min_ratio_and_min_shared_raise_the_bar() {
    let words: Vec<&str> = GSM.split(' ').collect();
    let part = words[..14].join(" "); // 2 shared 13-grams
    let strict = LeakageConfig {
        min_ratio: 0.5,
        ..config(only(false, true, false))
    };
    assert!(scan(&index(&[GSM], strict), &[&part]).is_empty());
    let many = LeakageConfig {
        min_shared_ngrams: 3,
        ..config(only(false, true, false))
    };
    assert!(scan(&index(&[GSM], many), &[&part]).is_empty());
    let default = config(only(false, true, false));
    assert_eq!(scan(&index(&[GSM], default), &[&part]).len(), 1);
}

#[test]
fn min_shared_above_an_items_ngram_count_asks_for_all_of_them() {
    // GSM has fewer than 50 distinct 13-grams: a bar of 50 must not make it unfindable.
    let words: Vec<&str> = GSM.split(' ').collect();
    assert!(words.len() - 12 < 50);
    let high = LeakageConfig {
        min_shared_ngrams: 50,
        min_span_words: 0,
        ..config(only(false, true, false))
    };
    let idx = index(&[GSM], high);
    assert_eq!(scan(&idx, &[&format!("prefix {GSM} suffix")]).len(), 1);
    // One n-gram short of all of them is not enough.
    assert!(scan(&idx, &[&words[1..].join(" ")]).is_empty());
}

#[test]
fn twelve_shared_words_do_not_make_a_13_gram() {
    let idx = index(&[GSM], config(only(false, true, false)));
    let words: Vec<&str> = GSM.split(' ').collect();
    let record = format!(
        "{} INSERTED {}",
        words[..12].join(" "),
        words[12..24].join(" ")
    );
    assert!(scan(&idx, &[&record]).is_empty());
}

#[test]
fn the_longest_of_two_runs_is_reported() {
    let idx = index(&[GSM], config(only(false, true, false)));
    let words: Vec<&str> = GSM.split(' ').collect();
    let record = format!(
        "{} xx yy {}",
        words[..15].join(" "),
        words[20..45].join(" ")
    );
    let leak = &scan(&idx, &[&record])[0];
    assert_eq!(leak.longest.unwrap().words, 25);
    assert_eq!(leak.shared_ngrams, (15 - 12) + (25 - 12));
}

#[test]
fn minhash_matches_a_near_copy_and_reports_similarity() {
    let idx = index(&[GSM], config(only(false, false, true)));
    let edited = GSM.replace("16 eggs", "sixteen eggs");
    let leaks = scan(
        &idx,
        &[
            &edited,
            "an unrelated record about the weather in Paris today",
        ],
    );
    assert_eq!(leaks.len(), 1);
    assert!(leaks[0].minhash);
    assert!(leaks[0].similarity.unwrap() >= 0.8);
}

#[test]
fn short_items_are_found_by_exact_and_minhash_and_marked() {
    let short = "What is the capital of France?";
    let idx = index(&[short, GSM], LeakageConfig::default());
    assert!(idx.items()[0].too_short_for_ngram);
    assert_eq!(idx.items()[0].ngrams, 0);
    assert!(!idx.items()[1].too_short_for_ngram);
    let leaks = scan(&idx, &["what is the capital of france"]);
    assert_eq!(leaks.len(), 1);
    assert_eq!(leaks[0].item, 0);
    assert!(leaks[0].exact && leaks[0].minhash && !leaks[0].ngram);
}

#[test]
fn empty_items_match_nothing() {
    let idx = index(&["...", GSM], LeakageConfig::default());
    assert_eq!(idx.items()[0].words, 0);
    assert!(scan(&idx, &["", "!!!", "hello"]).is_empty());
}

#[test]
fn all_methods_merge_into_one_leak_per_pair() {
    let idx = index(&[GSM], LeakageConfig::default());
    let leaks = scan(&idx, &[GSM]);
    assert_eq!(leaks.len(), 1);
    let l = &leaks[0];
    assert!(l.exact && l.ngram && l.minhash);
    assert_eq!(l.similarity, Some(1.0));
}

#[test]
fn duplicate_items_are_each_reported() {
    let idx = index(&[GSM, GSM], config(only(true, true, false)));
    let items: Vec<u32> = scan(&idx, &[GSM]).iter().map(|l| l.item).collect();
    assert_eq!(items, [0, 1]);
}

#[test]
fn item_ids_continue_across_batches() {
    let mut b = ReferenceIndexBuilder::new(LeakageConfig::default()).unwrap();
    b.add(&["first item"][..]).unwrap();
    b.add(&[GSM][..]).unwrap();
    let idx = b.finish();
    assert_eq!(scan(&idx, &[GSM])[0].item, 1);
}

#[test]
fn ngram_outside_the_allowed_range_is_rejected() {
    for n in [7, 51] {
        let err = ReferenceIndexBuilder::new(LeakageConfig {
            ngram: n,
            ..LeakageConfig::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("ngram") && err.contains("8..=50"), "{err}");
    }
}

#[test]
fn boilerplate_shared_by_many_items_does_not_flag() {
    let template =
        "Read the following passage carefully and then answer the question that comes after it";
    // (Each item's own words, after the template, are enough for the span criterion:
    // the template's words are not counted.)
    let items: Vec<String> = (0..12)
        .map(|i| format!("{template} item number {i} is about topic {i} and nothing else"))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let cfg = config(only(false, true, false));
    let idx = index(&refs, cfg.clone());
    assert!(idx.items()[0].common_ngrams > 0);
    let record = format!("{template} a totally different passage about cooking pasta");
    assert!(scan(&idx, &[&record]).is_empty());
    assert_eq!(scan(&idx, &[&items[3]])[0].item, 3);
    let keep_all = index(
        &refs,
        LeakageConfig {
            max_ngram_items: 0,
            ..cfg
        },
    );
    assert_eq!(scan(&keep_all, &[&record]).len(), 12);
}

#[test]
fn a_small_sets_template_does_not_flag() {
    // Found by review: five items share an instruction, too few for the limit of 10,
    // and every record written with it leaked all five. Now it is the set's template
    // (two items or more and a quarter of the set's), and each item's own words find it.
    let template = "Is this review positive or negative? Answer with one word only, please.";
    let reviews = [
        "The battery died after two days and support never answered my emails.",
        "Absolutely love this blender, it crushes ice in seconds and cleans easily.",
        "The shoes fell apart within a week, the stitching was terrible.",
        "Great value for the price, my kids play with it every single day.",
        "Arrived late and the box was crushed, but the lamp itself works fine.",
    ];
    let items: Vec<String> = reviews
        .iter()
        .map(|r| format!("Review: {r}\n{template}\nAnswer:"))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let idx = index(&refs, config(only(true, true, true)));
    assert!(idx.items().iter().all(|i| i.common_ngrams > 0));
    let clean = format!("Review: This kettle is noisy but it boils fast.\n{template}\nAnswer:");
    assert!(scan(&idx, &[&clean]).is_empty());
    let leaks = scan(
        &idx,
        &[&items[3], &format!("Tell me: {} Thoughts?", reviews[0])],
    );
    let found: Vec<(u32, u32)> = leaks.iter().map(|l| (l.record, l.item)).collect();
    assert_eq!(found, [(0, 3), (1, 0)]);
    // max_ngram_items 0 keeps every n-gram, the template too.
    let keep_all = index(
        &refs,
        LeakageConfig {
            max_ngram_items: 0,
            ..config(only(false, true, false))
        },
    );
    assert_eq!(scan(&keep_all, &[&clean]).len(), 5);
}

#[test]
fn an_ngram_reaching_into_the_sets_template_is_no_evidence() {
    // Found by attack: every item ends with the same instruction. Its own 13-grams are
    // boilerplate, but one holding an item's last word and the instruction's first twelve
    // was in that item only, and a clean record ending on the same word with the same
    // instruction leaked it; so did the span criterion, the instruction in its run.
    let suffix = "solve step by step then give the final number on the last line as number";
    let last = ["apples", "pears", "plums", "figs"];
    let items: Vec<String> = (0..12)
        .map(|i| {
            format!(
                "question {i} asks how many {} are in basket {i} today {suffix}",
                last[i % 4]
            )
        })
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let idx = index(&refs, config(only(false, true, false)));
    // "today" and the 15 words of the suffix: in every item.
    assert!(idx.items().iter().all(|i| i.template_words == 16));
    let clean = format!("a wholly different question about the apples {suffix}");
    assert!(scan(&idx, &[&clean]).is_empty());
    // The item's own words still leak it, with the template or without.
    let own = items[5].split(" solve ").next().unwrap().to_string();
    for record in [items[5].clone(), format!("please answer: {own} thanks")] {
        let leaks = scan(&idx, &[&record]);
        assert_eq!(
            leaks.iter().map(|l| l.item).collect::<Vec<_>>(),
            [5],
            "{record}"
        );
    }
}

const PASSAGE: &str = "The lighthouse on Carrow Point was built in 1871 by the engineer Mabel \
Quist, who insisted that its lamp burn whale oil long after the rest of the coast had switched to \
kerosene. Her assistant, a former sailor named Tobias Wren, kept a logbook of every ship that \
passed, and in the winter of 1884 he recorded forty-one wrecks along the reef before the lamp was \
finally rebuilt with a Fresnel lens imported from Paris.";

const QUESTIONS: [&str; 12] = [
    "Who built the lighthouse?",
    "When was the lighthouse built?",
    "What fuel did the lamp burn?",
    "Who kept the logbook?",
    "What was Tobias Wren's former job?",
    "How many wrecks were recorded in 1884?",
    "Where was the Fresnel lens imported from?",
    "What did the rest of the coast use?",
    "What was the name of the point?",
    "What kind of lens replaced the lamp?",
    "In which season were the wrecks recorded?",
    "What did Wren record in his logbook?",
];

const ANSWERS: [&str; 12] = [
    "Mabel Quist",
    "1871",
    "whale oil",
    "Tobias Wren",
    "sailor",
    "forty-one",
    "Paris",
    "kerosene",
    "Carrow Point",
    "Fresnel",
    "winter",
    "ships",
];

fn prompt(q: &str) -> String {
    format!("Read the passage and answer.\n\n{PASSAGE}\n\nQuestion: {q}")
}

#[test]
fn a_reading_comprehension_set_copied_whole_is_found() {
    // Found by attack: the passage every item holds is the set's template, and each
    // question (under 8 words) has no n-gram and no span of its own; the set copied word
    // for word into training data, with any answer, was found by MinHash only, and by
    // nothing with a long answer. The whole question next to the template is the item.
    // Items of the prompt alone, and of the prompt and its answer (a golden row's key).
    let prompts: Vec<String> = QUESTIONS.iter().map(|q| prompt(q)).collect();
    let with_answers: Vec<String> = QUESTIONS
        .iter()
        .zip(ANSWERS)
        .map(|(q, a)| format!("{}\n{a}", prompt(q)))
        .collect();
    for items in [prompts, with_answers] {
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let built = index(&refs, config(only(false, true, false)));
        let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
        check_reading_comprehension(&built);
        check_reading_comprehension(&loaded);
    }
}

fn check_reading_comprehension(idx: &ReferenceIndex) {
    // (Item 7's "question what" is in 6 of the 12 items, a quarter: text three items or
    // more share is the set's format, so it has own runs as the others do.)
    let with_runs: Vec<u32> = idx.own_runs().iter().map(|r| r.item).collect();
    assert!((0..12).all(|i| with_runs.contains(&i)), "{with_runs:?}");
    let long_answer = "Let us look at the passage carefully. The second sentence introduces \
        the assistant and describes his duties at the station in some detail. The answer is \
        Tobias Wren.";
    let records = [
        format!("{}\n{long_answer}", prompt(QUESTIONS[3])),
        format!(
            "user: {}\nassistant: From Paris, France.",
            prompt(QUESTIONS[6])
        ),
        format!("{PASSAGE}\n\nQuestion: {}", QUESTIONS[5]),
        format!("{}\nThey used kerosene.", prompt(QUESTIONS[7])),
        // The question alone, or beside other text, is not the item.
        format!("Read about the Eiffel tower. Question: {}", QUESTIONS[0]),
        QUESTIONS[1].to_string(),
        // The passage with another question is none of the items.
        format!("{PASSAGE}\n\nQuestion: Who painted the lighthouse?"),
        // Nor with one that starts with an item's question (found by attack: the item's
        // line ends after its question, the record's did not).
        format!("{PASSAGE}\n\nQuestion: Who built the lighthouse keeper's cottage next to it?"),
        format!(
            "{}\nTobias Wren",
            prompt("Who kept the logbook after Wren died?")
        ),
        format!(
            "{}\nCarrow",
            prompt("What was the name of the point's first keeper?")
        ),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    let leaks = scan(idx, &records);
    let found: Vec<(u32, u32)> = leaks.iter().map(|l| (l.record, l.item)).collect();
    assert_eq!(found, [(0, 3), (1, 6), (2, 5), (3, 7)]);
    assert!(leaks.iter().all(|l| l.ngram && l.shared_ngrams == 0));
    // The reported span ends on the question's last word in both texts.
    let span = leaks[0].longest.unwrap();
    let item: String = prompt(QUESTIONS[3])
        .chars()
        .take(span.reference_end as usize)
        .collect();
    assert!(item.ends_with("Who kept the logbook?"), "{item}");
    assert_eq!(span.reference_end, span.record_end);
}

#[test]
fn a_reading_comprehension_copy_with_other_labels_is_found() {
    // Found by QA: the own run held the item's label ("Question:") between the passage
    // and the question, so a copy that wrote "Q:" for it (and "Context:", "A:" around
    // it) matched nothing, whatever answer it kept.
    let items: Vec<String> = QUESTIONS
        .iter()
        .zip(ANSWERS)
        .map(|(q, a)| format!("{}\n{a}", prompt(q)))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let built = index(&refs, config(only(false, true, false)));
    let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
    let long_answer = "Let us look at the passage carefully. The second sentence introduces \
        the assistant and describes his duties at the station. The answer is Tobias Wren.";
    let records = [
        format!("Context: {PASSAGE}\nQ: {}\nA: {long_answer}", QUESTIONS[3]),
        format!("{PASSAGE} Question 5 : {}\nAnswer: 41", QUESTIONS[5]),
        format!("{PASSAGE}\n{}\n{long_answer}", QUESTIONS[6]),
        // Not the items: another question, a longer one, the question alone, more than
        // a label between the passage and the question, the item's label after it.
        format!("Context: {PASSAGE}\nQ: Who painted the lighthouse?\nA: no one"),
        format!("Context: {PASSAGE}\nQ: Who built the lighthouse keeper's cottage?"),
        format!("Q: {}\nA: {long_answer}", QUESTIONS[1]),
        format!("Context: {PASSAGE}\nAnd then tell me, what was the name of the point?"),
        format!("Context: {PASSAGE}\nSo, do tell me: what was the name of the point?"),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    for idx in [&built, &loaded] {
        assert!(idx
            .own_runs()
            .iter()
            .any(|r| r.relabel && r.label_words == 1));
        let leaks = scan(idx, &records);
        let found: Vec<(u32, u32)> = leaks.iter().map(|l| (l.record, l.item)).collect();
        assert_eq!(found, [(0, 3), (1, 5), (2, 6)]);
        assert!(leaks.iter().all(|l| l.ngram && l.shared_ngrams == 0));
        // The span ends on the question's last word in both texts.
        let span = leaks[0].longest.unwrap();
        let item: String = items[3].chars().take(span.reference_end as usize).collect();
        assert!(item.ends_with("Who kept the logbook?"), "{item}");
        let record: String = records[0].chars().take(span.record_end as usize).collect();
        assert!(record.ends_with("Q: Who kept the logbook?"), "{record}");
    }
}

#[test]
fn a_short_question_answered_on_its_line_is_found() {
    // Found by QA: an own run that ends the item's line had to end a line in the
    // record, so a short question copied with its answer on the same line matched
    // nothing. A record whose sentence ends there with the item's mark holds it; one
    // that goes on ("...keeper's cottage?", "4 plus 2?") does not.
    let head = "Solve the following grade school math problem. Give only the final number.";
    let items: Vec<String> = (0..12)
        .map(|i| format!("{head}\nWhat is {} times {}?", 10 + i, 2 + i % 7))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let built = index(&refs, config(only(false, true, false)));
    let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
    let records = [
        format!("{head}\nWhat is 10 times 2? The answer is 20."),
        format!("{head}\nWhat is 11 times 3?\" he asked. 33."),
        format!("{head}\nWhat is 12 times 4! 48."),
        format!("{head}\nWhat is 13 times 5 plus 1? The answer is 66."),
        format!("{head}\nWhat is 14 times 6. 84."),
        format!("{head}\nWhat is 15 times 7?!? 105."),
        format!("{head}\nWhat is 16 times 8?5"),
        "What is 17 times 2? The answer is 34.".to_string(),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    for idx in [&built, &loaded] {
        let found: Vec<(u32, u32)> = scan(idx, &records)
            .iter()
            .map(|l| (l.record, l.item))
            .collect();
        assert_eq!(found, [(0, 0), (1, 1)]);
    }
}

#[test]
fn a_relabelled_question_whose_first_words_are_the_sets_is_found() {
    // Found by QA: a question's first words shared by many items ("What is") are the
    // set's template, so the label did not end right before its own words, and a copy
    // with another label was missed.
    let head = "Solve the following grade school math problem. Give only the final number.";
    let items: Vec<String> = (0..12)
        .map(|i| format!("{head}\nQuestion: What is {} times {}?", 10 + i, 2 + i % 7))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let built = index(&refs, config(only(false, true, false)));
    let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
    let records = [
        format!("{head}\nQ: What is 10 times 2? The answer is 20."),
        format!("{head}\nWhat is 11 times 3?\n33"),
        format!("{head}\nQ: So what is 12 times 4?\n48"),
        format!("{head}\nQ: What is 13 times 5 plus 1?\n66"),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    for idx in [&built, &loaded] {
        let found: Vec<(u32, u32)> = scan(idx, &records)
            .iter()
            .map(|l| (l.record, l.item))
            .collect();
        assert_eq!(found, [(0, 0), (1, 1)]);
    }
}

#[test]
fn minhash_leaves_an_items_template_out() {
    // Found by attack: MinHash compared whole texts, so a clean row written with a set's
    // few-shot block and another question was a near copy of every item (~95% of each).
    let block = "Answer each question with a short fact.\nQ: What is the largest planet in our \
        solar system?\nA: Jupiter\nQ: Which element has the chemical symbol O?\nA: Oxygen\nQ: \
        How many continents are there on Earth?\nA: Seven\n";
    let titles = ["Hamlet", "Faust", "Ulysses", "Dracula", "Emma"];
    let items: Vec<String> = titles
        .iter()
        .map(|t| format!("{block}Q: Who wrote {t}?\nA:"))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    // MinHash alone still tells the template (the n-grams many items share).
    let built = index(&refs, config(only(false, false, true)));
    let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
    assert!(built.items().iter().all(|i| i.template_words > 0));
    let records = [
        items[1].clone(),
        format!("{block}Q: What is 3 plus 4?\nA:"),
        format!("{block}Q: Who painted Guernica?\nA:"),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    for idx in [&built, &loaded] {
        let leaks = scan(idx, &records);
        let found: Vec<(u32, u32)> = leaks.iter().map(|l| (l.record, l.item)).collect();
        assert_eq!(found, [(0, 1)]);
        assert!(leaks[0].minhash && leaks[0].similarity == Some(1.0));
    }
}

#[test]
fn minhash_finds_a_variant_by_its_tag_not_by_another_in_its_slot() {
    // Found by attack: items that are one question and a number each were measured
    // whole, and every clean row asking it of another number or word was a near copy
    // of all of them; variants tagged (a), (b), (c) were measured by their tag alone,
    // and a row holding their shared text was a near copy of none.
    let question = "You are a careful tutor for primary school students. Read the problem below \
        and work it out step by step before answering, then reply with only the resulting \
        value, with no units, words or punctuation around it. Problem: what is the smallest \
        prime number that is strictly greater than";
    let text = "the secret capital of the hidden northern kingdom of zembla is the walled city \
        by the sea";
    let numbered: Vec<String> = [233, 417, 598, 771, 802, 139]
        .iter()
        .map(|n| format!("{question} {n}"))
        .collect();
    let lettered: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|t| format!("{text} ({t})"))
        .collect();
    for items in [&numbered, &lettered] {
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let built = index(&refs, config(only(false, false, true)));
        let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
        let records = [
            format!("{question} 377"),
            format!("{question} seven"),
            items[1].clone(),
            format!("Q: {text}? A: onhava"),
            format!("{text} (d)"),
        ];
        let records: Vec<&str> = records.iter().map(String::as_str).collect();
        for idx in [&built, &loaded] {
            let found: Vec<(u32, u32)> = scan(idx, &records)
                .iter()
                .map(|l| (l.record, l.item))
                .collect();
            // (Row 3, the text without a tag, is measured whole, by the estimate.)
            let found: Vec<_> = found.into_iter().filter(|f| f.0 != 3).collect();
            assert_eq!(found, [(2, 1)]);
        }
    }
}

#[test]
fn a_tag_label_names_a_slot_of_the_prompt_not_a_task() {
    // Found by attack: "Antonym:" was a label a copy may swap, so "Synonym: happy"
    // was the item "Antonym: happy".
    for label in [
        "Question:",
        "Q:",
        "QUESTION 5:",
        "Question 5 :",
        "Input:",
        "Context:",
        "A:",
        "Qu\u{435}stion:",
        "Frage:",
        "问题：",
        "질문:",
        // Found by review: slot labels missing from the list.
        "Excerpt:",
        "Scenario:",
        "Request:",
        "Quest\u{e3}o:",
        "Vraag:",
        "Kontext:",
        "Contexte:",
        "Domanda 3:",
        "問題 12：",
        "上下文：",
    ] {
        assert!(is_tag_label(label), "{label}");
    }
    for label in [
        "Antonym:",
        "Synonym:",
        "French:",
        "Spanish 2:",
        "Reverse:",
        "Give the antonym:",
        "Question",
        "Questionnaire:",
    ] {
        assert!(!is_tag_label(label), "{label}");
    }
}

#[test]
fn a_question_label_written_another_way_is_a_label() {
    // Found by attack: `Q1:`, Markdown bold, `Q.` and a full-width colon were no
    // label, so a copy that wrote them for the item's `Question:` matched nothing.
    for label in [
        "Q:",
        "Question 5:",
        "Q1:",
        "Question12:",
        "**Question:**",
        "**Question**:",
        "__Q:__",
        "Q.",
        "Q)",
        "Question 2.",
        "Q1.",
        "问题：",
        "問題:",
        "質問：",
        "Вопрос.",
    ] {
        assert!(is_tag_label(label), "{label}");
    }
    // A word ended by `.` or `)` is a label only when it names a question; more than a
    // word and a number is none.
    for label in [
        "Mr.",
        "Note.",
        "1.",
        "Antonym)",
        "Give the antonym:",
        "Q1 2:",
        "**Note**",
    ] {
        assert!(!is_tag_label(label), "{label}");
    }
    let head = "Solve the following grade school math problem. Give only the final number.";
    let questions = [
        "Who built the lighthouse?",
        "When was it built?",
        "What did it burn?",
    ];
    let items: Vec<String> = (0..12)
        .map(|i| format!("{head}\nQuestion: {} ({i})", questions[i % 3]))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let built = index(&refs, config(only(false, true, false)));
    let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
    let records = [
        format!(
            "{head}\n**Question:** {} (0)\n**Answer:** Mabel",
            questions[0]
        ),
        format!("{head}\nQ1: {} (1)", questions[1]),
        format!("{head}\nQ. {} (2)", questions[2]),
        format!("{head}\n问题：{} (3)", questions[0]),
        // Not the items: no label, another question.
        format!("{head}\nMr. {} (4)", questions[1]),
        format!("{head}\n**Question:** Who built the lighthouse keeper's hut? (6)"),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    for idx in [&built, &loaded] {
        let found: Vec<(u32, u32)> = scan(idx, &records)
            .iter()
            .map(|l| (l.record, l.item))
            .collect();
        assert_eq!(found, [(0, 0), (1, 1), (2, 2), (3, 3)]);
    }
}

#[test]
fn a_whole_sentence_of_eight_words_or_more_may_go_on_in_a_record() {
    // Found by attack: an own run that ends the item's line at a sentence mark allowed
    // 8 words after it on the record's line, so a question of a few own words in its
    // set's template copied with a worked solution, and a whole item of three near
    // variants with more text after it, matched nothing. The item's sentence copied
    // whole (8 words or more) may go on; a short one ("Love it!") may not.
    let base =
        "The old train leaves the northern station at nine and travels slowly to reach the city by";
    let items = [
        format!("{base} noon."),
        format!("{base} dusk."),
        format!("{base} dawn."),
        "Write a short poem about the autumn leaves falling in the quiet park tonight.".into(),
    ];
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let built = index(&refs, config(only(false, true, false)));
    let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
    let more = "After that the passengers walk to the market and buy fresh bread and cheese.";
    let records = [
        format!("{} {more}", items[0]),
        format!("A story. {} {more}", items[1]),
        // Not the items: another last word, another mark.
        format!("{base} bus. {more}"),
        format!("{base} dawn! {more}"),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    for idx in [&built, &loaded] {
        assert!(idx.own_runs().iter().any(|r| r.open_end));
        let found: Vec<(u32, u32)> = scan(idx, &records)
            .iter()
            .map(|l| (l.record, l.item))
            .collect();
        assert_eq!(found, [(0, 0), (1, 1)]);
    }
    let head = "Classify the sentiment of the following product review as positive or negative.";
    let reviews = [
        "Love it!",
        "Works great.",
        "Total waste of money.",
        "Five stars.",
        "Would buy again!",
        "Not worth it.",
        "Broke after one day.",
        "Terrible quality.",
        "Highly recommend!",
        "Do not buy.",
        "Exceeded expectations.",
        "Is it worth it?",
    ];
    let items: Vec<String> = reviews
        .iter()
        .map(|r| format!("{head}\nReview: {r}"))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let idx = index(&refs, config(only(false, true, false)));
    assert!(!idx.own_runs().is_empty());
    assert!(idx.own_runs().iter().all(|r| !r.open_end));
    let longer = format!(
        "{head}\nReview: Love it! The battery lasts a whole week and the screen is bright."
    );
    assert!(scan(&idx, &[longer.as_str()]).is_empty());
}

#[test]
fn a_sentence_mark_ends_a_word_before_a_space_or_the_text_s_end() {
    let mark = |text: &str| {
        let word = text.split(' ').next().unwrap();
        char::from_u32(sentence_mark(text, (0, word.len() as u32)))
    };
    assert_eq!(mark("4? The"), Some('?'));
    assert_eq!(mark("4?"), Some('?'));
    assert_eq!(mark("4.\" The"), Some('.'));
    assert_eq!(mark("end!! Yes"), Some('!'));
    assert_eq!(mark("2.5 apples"), Some('\0'));
    assert_eq!(mark("4?5 apples"), Some('\0'));
    assert_eq!(mark("keeper's cottage"), Some('\0'));
    // (A Han character is a word of its own.)
    let han = sentence_mark("苹果？他", (3, 6));
    assert_eq!(char::from_u32(han), Some('\u{ff1f}'));
}

#[test]
fn a_short_question_before_the_sets_suffix_is_found_whole_only() {
    // The template rule's false flags (another question ending on an item's last words,
    // then the set's suffix) stay away when the item's own words are too few for a
    // span: its own run asks for every one of them.
    let suffix = "solve step by step then give the final number on the last line as number";
    let items: Vec<String> = (0..12)
        .map(|i| format!("how many pears in basket {i} {suffix}"))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let idx = index(&refs, config(only(false, true, false)));
    assert_eq!(idx.own_runs().len(), 12);
    let records = [
        format!("a wholly different question about basket 4 {suffix}"),
        format!("how many apples in basket 4 {suffix}"),
        format!("Problem: how many pears in basket 4 {suffix} Answer: 7"),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    let found: Vec<(u32, u32)> = scan(&idx, &records)
        .iter()
        .map(|l| (l.record, l.item))
        .collect();
    assert_eq!(found, [(2, 4)]);
}

#[test]
fn an_own_run_asks_for_the_items_symbols_too() {
    // Found by attack: normalization drops symbols, so "What is 2-2?" (2*2, 2^2) held
    // the own run of the item "What is 2+2?" (its set's template around it).
    let head =
        "Answer the following arithmetic question. Reply with the number only, nothing else.";
    let tail = "Think carefully before answering and double check your work.";
    let items: Vec<String> = (0..12)
        .map(|i| format!("{head}\nWhat is {}+{}?\n{tail}", i + 2, 2 + (i * 3) % 7))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let built = index(&refs, config(only(false, true, false)));
    let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
    for idx in [&built, &loaded] {
        let records: Vec<String> = ["2+2", "2-2", "2*2", "2^2", "2\u{2212}2", "22"]
            .iter()
            .map(|q| format!("{head}\nWhat is {q}?\n{tail}\nLet me think step by step."))
            .chain([
                // Curly and straight quotes, sentence punctuation at a word's edge: the same.
                format!("{head}\nWhat is 2+2\n{tail}"),
                format!("{}\nWhat is 2+2?\n{tail}", head.replace(',', ";")),
            ])
            .collect();
        let records: Vec<&str> = records.iter().map(String::as_str).collect();
        let found: Vec<(u32, u32)> = scan(idx, &records)
            .iter()
            .map(|l| (l.record, l.item))
            .collect();
        assert_eq!(found, [(0, 0), (6, 0), (7, 0)]);
    }
}

#[test]
fn repeated_text_is_found_without_blowing_up() {
    let item = "ha ".repeat(5000);
    let idx = index(&[&item], config(only(false, true, false)));
    let record = format!("laugh: {}", "ha ".repeat(20000));
    let leaks = scan(&idx, &[&record]);
    assert_eq!(leaks.len(), 1);
    assert_eq!(leaks[0].shared_ngrams, 1);
}

const ZH: &str = "小明有五个苹果，他给了小红两个，又买了三个。请问小明现在有几个苹果？";
const JA: &str =
    "太郎はりんごを五つ持っています。花子に二つあげて、三つ買いました。今いくつ持っていますか。";

#[test]
fn chinese_and_japanese_items_are_found_inside_longer_records() {
    // No spaces: each Han/kana character is a token, so a 13-gram is 13 characters.
    let idx = index(&[ZH, JA], config(only(false, true, true)));
    let zh = format!("以下是一道数学题。{ZH}答案：六个。");
    let ja = format!("次の問題を解いてください：{JA}答えは六つです。");
    let leaks = scan(
        &idx,
        &[&zh, &ja, "小明有五个朋友。", "今日は良い天気です。"],
    );
    let pairs: Vec<(u32, u32)> = leaks.iter().map(|l| (l.record, l.item)).collect();
    assert_eq!(pairs, [(0, 0), (1, 1)]);
    for leak in &leaks {
        assert!(leak.ngram);
        assert_eq!(leak.ratio, 1.0);
    }
    // The span points at the planted item in the record.
    let span = leaks[0].longest.unwrap();
    let chars: Vec<char> = zh.chars().collect();
    let found: String = chars[span.record_start as usize..span.record_end as usize]
        .iter()
        .collect();
    assert_eq!(found, ZH.trim_end_matches('？'));
}

#[test]
fn a_short_cjk_overlap_does_not_flag() {
    // Twelve shared characters are not a 13-gram.
    let idx = index(&[ZH], config(only(false, true, false)));
    let twelve: String = ZH.chars().take(12).collect();
    assert!(scan(&idx, &[&format!("完全不同的内容{twelve}其他")]).is_empty());
}

fn sample_index(methods: Methods) -> ReferenceIndex {
    let short = "What is the capital of France?";
    let other = "The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat by the door.";
    index(
        &[
            GSM,
            short,
            other,
            "",
            "日本語のテキストはスペースなしで書かれています",
        ],
        config(methods),
    )
}

#[test]
fn serialized_index_scans_exactly_like_the_original() {
    let records = [
        GSM.to_string(),
        format!("Intro. {GSM} Answer: 18"),
        "what is the capital of france".to_string(),
        "Intro: the quick brown fox jumps over the lazy dog while the cat".to_string(),
        "The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat"
            .to_string(),
        "unrelated text with nothing in common".to_string(),
        "日本語のテキストはスペースなしで書かれています".to_string(),
    ];
    let refs: Vec<&str> = records.iter().map(String::as_str).collect();
    for methods in [
        Methods::default(),
        only(true, false, false),
        only(false, true, false),
        only(false, false, true),
    ] {
        let original = sample_index(methods);
        let blob = original.to_bytes();
        let copy = ReferenceIndex::from_bytes(&blob).unwrap();
        assert_eq!(copy.to_bytes(), blob, "the same index gives the same bytes");
        assert_eq!(copy.items(), original.items());
        assert_eq!(copy.bands_rows(), original.bands_rows());
        assert_eq!(copy.config(), original.config());
        assert_eq!(
            copy.spans.distinct_ngrams(),
            original.spans.distinct_ngrams()
        );
        let (a, b) = (scan(&original, &refs), scan(&copy, &refs));
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }
}

#[test]
fn truncated_or_altered_blobs_are_errors_not_crashes() {
    let blob = sample_index(Methods::default()).to_bytes();
    // Every truncation is refused.
    for len in (0..blob.len()).step_by(7).chain([blob.len() - 1]) {
        let err = ReferenceIndex::from_bytes(&blob[..len])
            .err()
            .expect("refused");
        assert!(matches!(err, Error::CorruptIndex(_)), "{err}");
    }
    // Any flipped byte (header or body) is refused.
    for pos in (0..blob.len()).step_by(11) {
        let mut bad = blob.clone();
        bad[pos] ^= 0x5a;
        let err = ReferenceIndex::from_bytes(&bad).err().expect("refused");
        assert!(matches!(err, Error::CorruptIndex(_)), "byte {pos}: {err}");
    }
    let mut newer = blob.clone();
    newer[8] = 99;
    let msg = ReferenceIndex::from_bytes(&newer)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("format version 99"), "{msg}");
    let msg = ReferenceIndex::from_bytes(b"not an index at all, just some bytes")
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("bad magic"), "{msg}");
}

#[test]
fn a_blob_with_a_valid_checksum_but_broken_structure_is_refused() {
    // Re-seal a body whose posting points past its item: the checksum
    // passes, the structural checks must not.
    let idx = sample_index(only(false, true, false));
    let blob = idx.to_bytes();
    let mut body = blob[32..].to_vec();
    // The postings are followed by the (empty) own run, signature, template, evidence
    // line and variant counts: the last posting's position is the 4 bytes before those 40.
    let at = body.len() - 40 - 4;
    body[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut forged = blob[..24].to_vec();
    forged.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&body).to_le_bytes());
    forged.extend_from_slice(&body);
    let msg = ReferenceIndex::from_bytes(&forged)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("posting points outside"), "{msg}");
}

// Span criterion. Both items are real GSM8K test questions (openai/grade-school-math,
// MIT): a 9-word truncation of the short one has no 13-gram, and the long one
// shares an 8-word stock phrase with another test question.
const TEAM: &str =
    "A football team played 22 games. They won 8 more than they lost. How many did they win?";
const JOHN: &str = "There are 6 periods in the day for a normal student but John has to take 2 \
extra classes.  Each class is 40 minutes long.  He goes to class for 5 days a week.  He then \
spends 1/16 of his weekly minutes each on Saturday and Sunday as extra learning time.  How many \
hours a week does he spend learning?";
const DOGS: &str = "John takes care of 10 dogs.  Each dog takes .5 hours a day to walk and take \
care of their business.  How many hours a week does he spend taking care of dogs?";

#[test]
fn a_nine_word_truncation_of_a_short_item_is_found_by_its_span() {
    let idx = index(&[TEAM, JOHN], config(only(false, true, false)));
    assert_eq!(idx.items()[0].words, 18);
    // 9 of 18 words: exactly min_span_ratio 0.5, and no 13-gram.
    let part = "They won 8 more than they lost. How many";
    let record = format!("Practice set, problem 4: {part}");
    let leaks = scan(&idx, &[&record]);
    assert_eq!(leaks.len(), 1);
    let leak = &leaks[0];
    assert_eq!(leak.item, 0);
    assert!(leak.ngram && leak.shared_ngrams == 0);
    let span = leak.longest.unwrap();
    assert_eq!(span.words, 9);
    let chars: Vec<char> = record.chars().collect();
    let got: String = chars[span.record_start as usize..span.record_end as usize]
        .iter()
        .collect();
    assert_eq!(got, part);
    let team: Vec<char> = TEAM.chars().collect();
    let got: String = team[span.reference_start as usize..span.reference_end as usize]
        .iter()
        .collect();
    assert_eq!(got, part);
    // Off: the 13-gram rule alone misses it (the defect this criterion fixes).
    let off = LeakageConfig {
        min_span_words: 0,
        ..config(only(false, true, false))
    };
    assert!(scan(&index(&[TEAM, JOHN], off), &[&record]).is_empty());
    // Eight of its words cover 44%: below min_span_ratio.
    assert!(scan(&idx, &["They won 8 more than they lost. How"]).is_empty());
}

#[test]
fn a_stock_phrase_shared_with_a_long_item_does_not_flag() {
    // "How many hours a week does he spend" (8 words) is in both questions:
    // 8 of JOHN's 60 words, 8 of DOGS' 31.
    let idx = index(&[JOHN, DOGS], config(only(false, true, false)));
    assert!(scan(&idx, &[DOGS]).iter().all(|l| l.item == 1));
    assert!(scan(&idx, &[JOHN]).iter().all(|l| l.item == 0));
    assert!(scan(&idx, &["How many hours a week does he spend reading?"]).is_empty());
    // A half of the long item is still found, through its 13-grams.
    let words: Vec<&str> = JOHN.split_whitespace().collect();
    let half = words[..words.len() / 2].join(" ");
    assert_eq!(scan(&idx, &[&half])[0].item, 0);
}

#[test]
fn the_span_must_cover_min_span_ratio_of_the_item() {
    let words: Vec<&str> = TEAM.split_whitespace().collect();
    let ten = words[..10].join(" ");
    let strict = LeakageConfig {
        min_span_ratio: 0.6,
        ..config(only(false, true, false))
    };
    assert_eq!(
        scan(&index(&[TEAM], config(only(false, true, false))), &[&ten]).len(),
        1
    );
    assert!(scan(&index(&[TEAM], strict.clone()), &[&ten]).is_empty());
    let eleven = words[..11].join(" ");
    assert_eq!(scan(&index(&[TEAM], strict), &[&eleven]).len(), 1);
    // The criterion stands beside min_ratio / min_shared_ngrams: a high bar
    // for n-grams does not hide a run covering most of an item.
    let many = LeakageConfig {
        min_shared_ngrams: 50,
        min_ratio: 0.9,
        ..config(only(false, true, false))
    };
    let idx = index(&[GSM], many);
    let gsm: Vec<&str> = GSM.split_whitespace().collect();
    assert!(scan(&idx, &[&gsm[..20].join(" ")]).is_empty());
    assert_eq!(scan(&idx, &[&gsm[..gsm.len() * 3 / 4].join(" ")]).len(), 1);
}

#[test]
fn a_short_cjk_truncation_is_found_and_a_short_cjk_phrase_is_not() {
    // 30 character tokens: a 15-character run covers half of it.
    let idx = index(&[ZH, JA], config(only(false, true, false)));
    let fifteen: String = ZH.chars().take(17).collect(); // 15 tokens and two commas
    let leaks = scan(&idx, &[&format!("练习：{fifteen}。")]);
    assert_eq!(leaks.len(), 1);
    assert_eq!((leaks[0].item, leaks[0].longest.unwrap().words), (0, 15));
    // A short CJK item (12 characters) and an 8-character truncation of it.
    let short = "小红每天读十页书，读了三天。";
    let idx = index(&[short, ZH], config(only(false, true, false)));
    assert!(idx.items()[0].too_short_for_ngram);
    let leaks = scan(&idx, &["今天的作业：小红每天读十页书"]);
    assert_eq!(leaks.iter().map(|l| l.item).collect::<Vec<_>>(), [0]);
    // Eight shared characters of the 30-character item do not flag it.
    let eight: String = ZH.chars().take(8).collect();
    assert!(scan(&idx, &[&format!("完全不同的内容{eight}其他")]).is_empty());
}

#[test]
fn span_settings_outside_their_range_are_rejected() {
    for (words, ratio, field) in [
        (3, 0.5, "min_span_words"),
        (51, 0.5, "min_span_words"),
        (8, 1.5, "min_span_ratio"),
        (8, -0.1, "min_span_ratio"),
    ] {
        let err = ReferenceIndexBuilder::new(LeakageConfig {
            min_span_words: words,
            min_span_ratio: ratio,
            ..LeakageConfig::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains(field), "{err}");
    }
    assert!(ReferenceIndexBuilder::new(LeakageConfig {
        min_span_words: 0,
        ..LeakageConfig::default()
    })
    .is_ok());
}

#[test]
fn an_older_version_blob_is_refused_with_a_one_line_error() {
    // Version 1 had no span index, version 2 hashed words before look-alike folding,
    // version 3 before digits of other scripts were folded: their blobs must be rebuilt,
    // not misread.
    for version in [1u32, 2, 3] {
        let mut old = sample_index(Methods::default()).to_bytes();
        old[8..12].copy_from_slice(&version.to_le_bytes());
        let msg = ReferenceIndex::from_bytes(&old).err().unwrap().to_string();
        let want =
            format!("format version {version}, this curagate reads version {FORMAT_VERSION}");
        assert!(msg.contains(&want), "{msg}");
        assert!(!msg.contains('\n'));
    }
}

#[test]
fn hangul_runs_are_measured_in_words_of_three_syllables() {
    // Found by attack: with each syllable a word, a clean row sharing two words with a
    // short question ("대한민국의 수도는": 8 syllables, over half of its 13) or a 4-word
    // stock notice with a long item (13 syllables: a 13-gram) flagged it.
    let short = "대한민국의 수도는 어디입니까?";
    let long = "다음 글을 읽고 글쓴이의 주장을 한 문장으로 요약하시오. 최근 많은 청소년들이 \
                스마트폰을 사용하는 시간이 늘어나면서 수면 부족 문제가 심각해지고 있다. \
                자세한 내용은 홈페이지를 참고하시기 바랍니다.";
    let idx = index(&[short, long], config(only(false, true, false)));
    // 13 syllables are 4 words and a third: too short for a 13-word n-gram.
    let info = idx.items()[0];
    assert_eq!((info.words, info.units), (13, 13));
    assert!(info.too_short_for_ngram);
    let info = idx.items()[1]; // 83 syllables: 27 words and two thirds
    assert_eq!((info.words, info.units), (83, 83));
    assert!(!info.too_short_for_ngram);
    let clean = [
        "대한민국의 수도는 서울이며 인구는 약 천만 명이다.",
        "신제품 출시 일정이 변경되었습니다. 자세한 내용은 홈페이지를 참고하시기 바랍니다.",
    ];
    assert!(scan(&idx, &clean).is_empty());
    // 13 words' worth of it (39 syllables), spacing changed, is an n-gram match; so is all
    // of it; 38 syllables are not (nor half of it: 42).
    let syllables: Vec<char> = long.chars().filter(|c| c.is_alphabetic()).collect();
    let half: String = syllables[..39].iter().collect();
    let under: String = syllables[1..39].iter().collect();
    assert!(scan(&idx, &[&under]).is_empty());
    let whole = long.replace(' ', "");
    let leaks = scan(&idx, &[&half, &whole]);
    let pairs: Vec<(u32, u32)> = leaks.iter().map(|l| (l.record, l.item)).collect();
    assert_eq!(pairs, [(0, 1), (1, 1)]);
    // Words of other scripts count whole: a 13-word English run is an n-gram match
    // inside Korean text, as before.
    let en = "the quick brown fox jumps over the lazy dog while the cat sleeps on the mat";
    let idx = index(
        &[&format!("{en} 그리고 {long}")],
        config(only(false, true, false)),
    );
    assert!(!idx.items()[0].too_short_for_ngram);
    let leaks = scan(&idx, &[&format!("다른 글: {en}")]);
    assert_eq!(leaks.len(), 1);
    assert!(leaks[0].ngram);
}

#[test]
fn kana_runs_are_measured_in_words_of_three_kana() {
    // Found by attack: with each kana a word, a 19-kana stock notice was a 13-gram, and a
    // row ending with it leaked a golden item that ended with it.
    let notice = "くわしくはホームページをごらんください。";
    let item = format!(
        "太郎さんは毎朝七時に起きて、駅まで十五分歩きます。電車に乗って会社に行くのに何分\
         かかりますか。{notice}"
    );
    let idx = index(&[&item], config(only(false, true, false)));
    let info = idx.items()[0];
    // 19 kana of the notice and 24 of the rest are a unit each, 20 Han characters a word.
    assert_eq!((info.words, info.units), (63, 19 + 24 + 20 * WORD_UNITS));
    let clean = [
        format!("新しい商品の発売日が変更になりました。{notice}"),
        format!("イベントは雨でも行います。{notice}"),
    ];
    assert!(scan(&idx, &[&clean[0], &clean[1]]).is_empty());
    // The item pasted whole, or its first 70%, is still found.
    let chars: Vec<char> = item.chars().collect();
    let part: String = chars[..chars.len() * 7 / 10].iter().collect();
    let leaks = scan(&idx, &[&format!("問題：{item}"), &part]);
    assert_eq!(leaks.iter().map(|l| l.record).collect::<Vec<_>>(), [0, 1]);
    assert!(leaks.iter().all(|l| l.ngram && l.shared_ngrams > 0));
}

#[test]
fn shared_lines_of_two_items_are_evidence_with_the_items_own_line() {
    // Found by attack: two items that share a passage (or a few-shot block), each with a
    // short question on its own line, kept the passage as their evidence (near copies
    // do), so every clean row with the passage and another question, or none, leaked both.
    let passage = "In 1887 the town of Harwick built a stone lighthouse on the northern cliffs \
        after three fishing boats were lost in a winter storm. The keeper, Ellen Marsh, kept the \
        lamp burning for forty years and wrote a diary that is now kept in the county museum.";
    let items = [
        format!("{passage}\nQuestion: Who kept the lamp burning?"),
        format!("{passage}\nQuestion: Why was the lighthouse built?"),
        "Name a prime number between twenty and thirty and explain why it is prime.".to_string(),
        "What are the tax rules for small businesses in the state of Ohio this year?".to_string(),
    ];
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let built = index(&refs, LeakageConfig::default());
    let loaded = ReferenceIndex::from_bytes(&built.to_bytes()).unwrap();
    let records = [
        format!("{passage}\nQuestion: Who wrote the diary?"),
        passage.to_string(),
        format!("Who kept the lamp burning?\n{passage}"),
        format!("Context: {passage}\nQ: Why was the lighthouse built?\nA: storms"),
    ];
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    for idx in [&built, &loaded] {
        let found: Vec<(u32, u32)> = scan(idx, &records)
            .iter()
            .map(|l| (l.record, l.item))
            .collect();
        assert_eq!(found, [(2, 0), (3, 1)]);
    }
}

#[test]
fn near_copies_in_a_small_set_are_each_others_evidence() {
    // Found by attack: text two items of a small file share is its template (two items and
    // a quarter of the file's), so items that are near copies of each other shared all of
    // their text as template: copies of them matched nothing. An item whose own words
    // outside such text are too few to find it keeps the text as its evidence.
    let farmer = "A farmer has 17 cows and each cow gives 12 liters of milk every morning and 9 \
        liters every evening. He sells the milk at the market for 2 dollars per liter. How much \
        money does he make in one week?";
    let other_number = farmer.replace("2 dollars", "3 dollars");
    let memo = "The city council voted to close the old library on Maple Street and move its \
        books to a new community center near the river. Which department will manage the new \
        center, according to the memo?";
    let memo_then = format!("{memo} Answer in one sentence.");
    let pangram = "The quick brown fox jumps over the lazy dog near the river bank every single \
        morning at dawn.";
    let at_dusk = pangram.replace("dawn.", "dusk.");
    let others = [
        "Lena reads 30 pages of her novel on weekdays and twice as many on weekends, and the \
        novel has 600 pages in total; how many weeks will she need to finish it?",
        "Sam bakes 4 trays of cookies with 24 cookies on each tray, gives a third of them to \
        his neighbors and eats 5 himself; how many cookies are left for the school bake sale?",
    ];
    let cases: [(Vec<&str>, Vec<String>); 3] = [
        (
            vec![farmer, &other_number, others[0], others[1]],
            vec![
                farmer.replace("2 dollars", "5 dollars"),
                format!("Solve this: {}", &farmer[..120]),
            ],
        ),
        (
            vec![memo, &memo_then, others[0]],
            vec![
                format!("{memo}\nThe parks department will manage it, as the memo says."),
                memo.replace("Maple", "Oak"),
            ],
        ),
        (
            vec![pangram, &at_dusk, others[0], others[1]],
            vec![format!(
                "{}, said the teacher to the class.",
                &pangram[..pangram.len() - 1]
            )],
        ),
    ];
    for (items, records) in cases {
        let idx = index(&items, config(only(false, true, false)));
        // The two near copies have no template left; the others never had any.
        assert!(idx
            .items()
            .iter()
            .all(|i| i.common_ngrams == 0 && i.template_words == 0));
        let records: Vec<&str> = records.iter().map(String::as_str).collect();
        let found: Vec<(u32, u32)> = scan(&idx, &records)
            .iter()
            .map(|l| (l.record, l.item))
            .collect();
        let want: Vec<(u32, u32)> = (0..records.len() as u32)
            .flat_map(|r| [(r, 0), (r, 1)])
            .collect();
        assert_eq!(found, want, "{items:?}");
    }
}

#[test]
fn an_item_with_its_own_words_beside_a_near_copy_keeps_the_template() {
    // Of a small file's items sharing an instruction, the one whose review is two words
    // has too few of its own for an n-gram, but the instruction, in all four, is the
    // file's format, never its evidence (found by attack: a few-shot block before 10
    // short questions flagged every clean row written with it). Its own run finds its
    // copy; a clean row written with the instruction flags nothing.
    let instruction = "Is this review positive or negative? Answer with one word only, please.";
    let reviews = [
        "The battery died after two days and support never answered my emails.",
        "Absolutely love this blender, it crushes ice in seconds and cleans easily.",
        "The shoes fell apart within a week, the stitching was terrible.",
        "Great value.",
    ];
    let items: Vec<String> = reviews
        .iter()
        .map(|r| format!("Review: {r}\n{instruction}\nAnswer:"))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let idx = index(&refs, config(only(false, true, false)));
    let template: Vec<u32> = idx.items().iter().map(|i| i.template_words).collect();
    assert_eq!(template, [13, 13, 13, 13]);
    let clean = format!("Review: This kettle is noisy but it boils fast.\n{instruction}\nAnswer:");
    let found: Vec<(u32, u32)> = scan(&idx, &[&clean, &items[1], &items[3]])
        .iter()
        .map(|l| (l.record, l.item))
        .collect();
    assert_eq!(found, [(1, 1), (2, 3)]);
}

#[test]
fn thai_runs_are_measured_in_words_of_three_characters() {
    // Found by review: with each Thai character a word, a 12-character stock phrase
    // ("please answer the question") was half of a short item by the span criterion and
    // a 13-gram of a long one, and unrelated rows that opened with it leaked the item.
    let stock = "กรุณาตอบคำถามต่อไป";
    let short = format!("{stock} วันนี้อากาศดีไหม");
    let long = format!(
        "{stock} สมชายมีแอปเปิ้ลห้าผล เขาให้น้องสาวไปสองผล แล้วซื้อมาเพิ่มอีกสามผล \
         ตอนนี้สมชายมีแอปเปิ้ลกี่ผล"
    );
    let idx = index(&[&short, &long], config(only(false, true, false)));
    let info = idx.items()[0];
    assert_eq!(info.words, info.units);
    assert!(info.too_short_for_ngram, "{info:?}");
    assert!(!idx.items()[1].too_short_for_ngram);
    let clean = [
        format!("{stock} แมวของฉันชอบนอนบนโซฟาทั้งวัน"),
        format!("ข้อสอบ: {stock}"),
    ];
    assert!(scan(&idx, &[&clean[0], &clean[1]]).is_empty());
    // Either item pasted verbatim into a longer row is still found.
    let rows = [
        format!("โจทย์: {long} คำตอบ: หกผล"),
        format!("แบบฝึกหัด\n{short}\nตอบ: ดี"),
    ];
    let leaks = scan(&idx, &[&rows[0], &rows[1]]);
    let pairs: Vec<(u32, u32)> = leaks.iter().map(|l| (l.record, l.item)).collect();
    assert_eq!(pairs, [(0, 1), (1, 0)]);
}

#[test]
fn a_slot_label_after_a_sentence_mark_is_a_label_inside_the_line() {
    // Found by review: the answer beside an item's question (`... the lighthouse? Answer:
    // Mabel`) copied under other labels (`Q: ... A: Mabel`) matched nothing.
    let labels = |text: &str| {
        let mut tokens = Tokens::default();
        tokenize_into(text, &NormalizeOptions::default(), &mut tokens);
        let line_start: Vec<bool> = (0..tokens.len()).map(|i| i == 0).collect();
        mid_labels(text, &tokens, &line_start)
    };
    assert_eq!(
        labels("Question: Who built it? Answer: Mabel"),
        [0, 0, 0, 0, 1, 0]
    );
    assert_eq!(labels("Who built it? **A:** Mabel"), [0, 0, 0, 1, 0]);
    assert_eq!(labels("Who built it? 答案：Mabel"), [0, 0, 0, 2, 0, 0]);
    assert_eq!(
        labels("Who built it? 答案 1： Mabel"),
        [0, 0, 0, 3, 0, 0, 0]
    );
    // No sentence mark before it, no slot, or no colon: none.
    for text in [
        "Who built it Answer: Mabel",
        "Who built it? Antonym: Mabel",
        "Who built it? Answer Mabel",
        "Who built it? The answer is: Mabel",
    ] {
        assert!(labels(text).iter().all(|&w| w == 0), "{text}");
    }
}

#[test]
fn a_short_item_behind_an_instruction_is_found_whole() {
    // Found by review: `Solve: 17 * 23` (no n-gram, no 8-word span) copied with its answer
    // into a longer text matched nothing.
    let items = [
        "Solve: 17 * 23",
        "Translate: Good morning, my friend",
        "Good morning, my friend",
    ];
    let idx = index(&items, config(only(false, true, false)));
    let whole: Vec<(u32, u32)> = idx
        .own_runs()
        .iter()
        .filter(|r| r.whole)
        .map(|r| (r.item, r.label_words))
        .collect();
    // (No instruction, no whole run: the third is a phrase any text may hold.)
    assert_eq!(whole, [(0, 1), (1, 1)]);
    let records = [
        "Solve: 17 * 23\n391",
        "Practice. Solve: 17 * 23 = 391",
        "Translate: Good morning, my friend\nBuenos días, mi amigo",
        "Solve: 17 + 23\n40",
        "Solve: 17 * 23 * 2\n782",
        "Solve: 17 * 23 + 1 = 392",
        "To solve: 17 * 23",
        "Translate: Good morning, my friend Bob",
        "Hello. Good morning, my friend\nhi",
    ];
    let pairs: Vec<(u32, u32)> = scan(&idx, &records)
        .iter()
        .map(|l| (l.record, l.item))
        .collect();
    assert_eq!(pairs, [(0, 0), (1, 0), (2, 1)]);
    // Serialized and loaded, the index finds the same.
    let loaded = ReferenceIndex::from_bytes(&idx.to_bytes()).unwrap();
    assert_eq!(loaded.own_runs(), idx.own_runs());
    assert_eq!(scan(&loaded, &records).len(), 3);
    // With the span criterion off (the answers' index), no item is looked for so.
    let off = LeakageConfig {
        min_span_words: 0,
        ..config(only(false, true, false))
    };
    assert!(index(&items, off).own_runs().iter().all(|r| !r.whole));
}

#[test]
fn scan_with_finds_in_each_index_what_each_scan_finds() {
    // One tokenization for two indexes (a golden set's prompts and its answers): the same
    // pairs as two scans, whatever the records hold.
    let prompts = index(
        &[GSM, "What is the capital of France?"],
        config(Methods::default()),
    );
    let answers = index(
        &[
            "She makes 9 * 2 = $18 every day at the farmer's market. The answer is 18",
            "The capital of France is Paris, a city on the Seine in the north of the country.",
        ],
        config(only(true, true, false)),
    );
    let records = [
        GSM,
        "What is the capital of France?",
        "Q: what is the capital of france? A: The capital of France is Paris, a city on the \
         Seine in the north of the country, and it is large.",
        "She makes 9 * 2 = $18 every day at the farmer's market. The answer is 18",
        "nothing to see here",
        "",
    ];
    let (mine, theirs) = prompts.scan_with(&answers, &records[..]).unwrap();
    assert_eq!(mine, scan(&prompts, &records));
    assert_eq!(theirs, scan(&answers, &records));
    assert!(!mine.is_empty() && !theirs.is_empty());
    // Indexes that read words differently cannot share a tokenization.
    let mut other = config(only(true, true, false));
    other.normalize.lowercase = false;
    let apart = index(&["The capital of France is Paris."], other);
    assert!(prompts.scan_with(&apart, &records[..]).is_err());
}
