//! The LoCoMo file as the benchmark uses it: each conversation's turns become passages (text, session time, turn id)
//! and each QA item a question with the turn ids of its evidence.
//!
//! The file is read at run time from wherever the caller points (it is licensed CC BY-NC and is never copied into
//! this repository). Its quirks are handled here: some evidence entries hold two ids in one string (`"D8:6; D9:17"`),
//! and a few ids do not name a turn of the conversation (`"D"`, `"D:11:26"`); those are dropped and counted. A
//! passage is `"Speaker: text"`, the benchmark's protocol; with captions on, a turn that shared an image gets
//! `" [image: caption]"` appended (the file keeps each shared image's generated caption).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use anyhow::{Context, anyhow};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// A turn id such as `D3:12`: session 3, turn 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DiaId {
    pub session: u32,
    pub turn: u32,
}

impl DiaId {
    /// Parses exactly `D<session>:<turn>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (session, turn) = text.strip_prefix('D')?.split_once(':')?;
        let number =
            |s: &str| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None };
        Some(Self { session: number(session)?, turn: number(turn)? })
    }
}

impl fmt::Display for DiaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "D{}:{}", self.session, self.turn)
    }
}

/// One turn, ready to be stored as a passage.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub dia_id: DiaId,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// One question with its resolvable evidence turns (distinct, in the file's order).
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub category: u8,
    pub text: String,
    pub evidence: Vec<DiaId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub sample_id: String,
    pub turns: Vec<Turn>,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub conversations: Vec<Conversation>,
    /// Evidence ids dropped because they do not name a turn, as written in the file.
    pub dropped_evidence: Vec<String>,
}

impl Dataset {
    /// Reads the file; `captions` appends shared images' captions to their turns' passages.
    pub fn load(path: &Path, captions: bool) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let value: Value = serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))?;
        Self::parse(&value, captions).with_context(|| format!("{} is not in the LoCoMo format", path.display()))
    }

    pub fn parse(value: &Value, captions: bool) -> anyhow::Result<Self> {
        let samples = value.as_array().ok_or_else(|| anyhow!("expected a JSON list of samples"))?;
        let mut dropped_evidence = Vec::new();
        let conversations = samples
            .iter()
            .enumerate()
            .map(|(i, sample)| {
                conversation(sample, captions, &mut dropped_evidence).with_context(|| format!("in sample {i}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { conversations, dropped_evidence })
    }

    pub fn turns(&self) -> usize {
        self.conversations.iter().map(|c| c.turns.len()).sum()
    }

    pub fn questions(&self) -> usize {
        self.conversations.iter().map(|c| c.questions.len()).sum()
    }
}

fn conversation(sample: &Value, captions: bool, dropped: &mut Vec<String>) -> anyhow::Result<Conversation> {
    let sample_id = str_field(sample, "sample_id")?.to_owned();
    let sessions = sample
        .get("conversation")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("{sample_id}: no `conversation` object"))?;
    let mut numbers: Vec<u32> = sessions
        .iter()
        .filter(|(_, value)| value.is_array())
        .filter_map(|(key, _)| key.strip_prefix("session_")?.parse().ok())
        .collect();
    numbers.sort_unstable();
    let mut turns = Vec::new();
    for n in numbers {
        let date_key = format!("session_{n}_date_time");
        let date = sessions.get(&date_key).and_then(Value::as_str).ok_or_else(|| anyhow!("no `{date_key}`"))?;
        let created_at = parse_session_time(date).ok_or_else(|| anyhow!("`{date_key}` is not a date: {date:?}"))?;
        for turn in sessions.get(&format!("session_{n}")).and_then(Value::as_array).into_iter().flatten() {
            let id = str_field(turn, "dia_id")?;
            let dia_id = DiaId::parse(id).ok_or_else(|| anyhow!("turn id {id:?} is not D<session>:<turn>"))?;
            let caption = turn.get("blip_caption").and_then(Value::as_str).filter(|_| captions);
            let text = passage_text(str_field(turn, "speaker")?, str_field(turn, "text")?, caption);
            turns.push(Turn { dia_id, text, created_at });
        }
    }
    let known: HashSet<DiaId> = turns.iter().map(|t| t.dia_id).collect();
    let qa = sample.get("qa").and_then(Value::as_array).ok_or_else(|| anyhow!("{sample_id}: no `qa` list"))?;
    let mut questions = Vec::with_capacity(qa.len());
    for item in qa {
        let category = item
            .get("category")
            .and_then(Value::as_u64)
            .and_then(|c| u8::try_from(c).ok())
            .filter(|c| (1..=5).contains(c))
            .ok_or_else(|| anyhow!("{sample_id}: a question without a category id 1–5"))?;
        let mut evidence = Vec::new();
        for entry in item.get("evidence").and_then(Value::as_array).into_iter().flatten() {
            let entry = entry.as_str().ok_or_else(|| anyhow!("{sample_id}: an evidence id that is not a string"))?;
            let (ids, unresolved) = resolve_evidence(entry, &known);
            dropped.extend(unresolved.into_iter().map(|id| format!("{sample_id} {id}")));
            for id in ids {
                if !evidence.contains(&id) {
                    evidence.push(id);
                }
            }
        }
        questions.push(Question { category, text: str_field(item, "question")?.to_owned(), evidence });
    }
    Ok(Conversation { sample_id, turns, questions })
}

fn str_field<'a>(value: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    value.get(name).and_then(Value::as_str).ok_or_else(|| anyhow!("missing string field `{name}`"))
}

/// The passage stored for a turn.
pub fn passage_text(speaker: &str, text: &str, caption: Option<&str>) -> String {
    let mut passage = format!("{speaker}: {}", text.trim());
    if let Some(caption) = caption.map(str::trim).filter(|c| !c.is_empty()) {
        passage.push_str(&format!(" [image: {caption}]"));
    }
    passage
}

/// A session's `date_time` such as `"1:56 pm on 8 May, 2023"`, read as UTC (the file gives no zone).
pub fn parse_session_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text.trim(), "%I:%M %p on %d %B, %Y").ok().map(|t| t.and_utc())
}

/// Splits one evidence entry into the turn ids it names: the ids of the conversation, and the pieces that are not
/// one (malformed or naming no turn). Entries are separated by `;`, `,` or white space.
pub fn resolve_evidence(entry: &str, known: &HashSet<DiaId>) -> (Vec<DiaId>, Vec<String>) {
    let mut ids = Vec::new();
    let mut unresolved = Vec::new();
    for piece in entry.split([';', ',']).flat_map(str::split_whitespace) {
        match DiaId::parse(piece).filter(|id| known.contains(id)) {
            Some(id) => ids.push(id),
            None => unresolved.push(piece.to_owned()),
        }
    }
    (ids, unresolved)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn id(session: u32, turn: u32) -> DiaId {
        DiaId { session, turn }
    }

    #[test]
    fn session_times_parse_with_and_without_padding() {
        let at = |y, mo, d, h, mi| Some(Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap());
        assert_eq!(parse_session_time("1:56 pm on 8 May, 2023"), at(2023, 5, 8, 13, 56));
        assert_eq!(parse_session_time("10:04 am on 19 December, 2023"), at(2023, 12, 19, 10, 4));
        assert_eq!(parse_session_time("12:06 am on 11 November, 2022"), at(2022, 11, 11, 0, 6));
        assert_eq!(parse_session_time("12:30 pm on 1 January, 2024"), at(2024, 1, 1, 12, 30));
        assert_eq!(parse_session_time("yesterday"), None);
        assert_eq!(parse_session_time("13:56 pm on 8 May, 2023"), None);
    }

    #[test]
    fn evidence_entries_split_and_drop_what_does_not_resolve() {
        let known: HashSet<DiaId> = [id(8, 6), id(9, 17), id(1, 3), id(11, 26)].into_iter().collect();
        assert_eq!(resolve_evidence("D8:6; D9:17", &known), (vec![id(8, 6), id(9, 17)], vec![]));
        assert_eq!(resolve_evidence("D1:3", &known), (vec![id(1, 3)], vec![]));
        assert_eq!(resolve_evidence("D", &known), (vec![], vec!["D".to_owned()]));
        assert_eq!(resolve_evidence("D:11:26", &known), (vec![], vec!["D:11:26".to_owned()]));
        // Well formed but naming no turn of this conversation.
        assert_eq!(resolve_evidence("D30:1", &known), (vec![], vec!["D30:1".to_owned()]));
        assert_eq!(DiaId::parse("D12:5"), Some(id(12, 5)));
        assert_eq!(DiaId::parse("D1:+3"), None);
        assert_eq!(id(3, 12).to_string(), "D3:12");
    }

    #[test]
    fn a_sample_becomes_passages_and_questions() {
        let sample = json!([{
            "sample_id": "conv-x",
            "conversation": {
                "speaker_a": "Ann", "speaker_b": "Bo",
                "session_2_date_time": "9:00 am on 2 March, 2023",
                "session_2": [{"speaker": "Bo", "dia_id": "D2:1", "text": "Back again."}],
                "session_1_date_time": "1:56 pm on 8 May, 2022",
                "session_1": [
                    {"speaker": "Ann", "dia_id": "D1:1", "text": "Hi Bo!"},
                    {"speaker": "Bo", "dia_id": "D1:2", "text": "Look at this.", "img_url": ["u"],
                     "blip_caption": "a photo of a dog"}
                ]
            },
            "qa": [
                {"question": "What did Bo show?", "answer": "a dog", "evidence": ["D1:2", "D1:2", "D"], "category": 4},
                {"question": "When?", "answer": "x", "evidence": ["D1:1; D2:1"], "category": 2},
                {"question": "Why?", "adversarial_answer": "y", "evidence": [], "category": 5}
            ]
        }]);
        let texts = |dataset: &Dataset| -> Vec<String> {
            dataset.conversations[0].turns.iter().map(|t| t.text.clone()).collect()
        };
        let with_captions = Dataset::parse(&sample, true).unwrap();
        assert_eq!(
            texts(&with_captions),
            ["Ann: Hi Bo!", "Bo: Look at this. [image: a photo of a dog]", "Bo: Back again."]
        );
        let dataset = Dataset::parse(&sample, false).unwrap();
        assert_eq!(texts(&dataset), ["Ann: Hi Bo!", "Bo: Look at this.", "Bo: Back again."]);
        let conversation = &dataset.conversations[0];
        assert_eq!(conversation.turns[2].created_at, Utc.with_ymd_and_hms(2023, 3, 2, 9, 0, 0).unwrap());
        let evidence: Vec<&[DiaId]> = conversation.questions.iter().map(|q| q.evidence.as_slice()).collect();
        assert_eq!(evidence, [&[id(1, 2)][..], &[id(1, 1), id(2, 1)][..], &[][..]]);
        assert_eq!(dataset.dropped_evidence, ["conv-x D"]);
        assert_eq!((dataset.turns(), dataset.questions()), (3, 3));
    }

    #[test]
    fn malformed_files_are_refused() {
        assert!(Dataset::parse(&json!({"not": "a list"}), false).is_err());
        let bad_date = json!([{"sample_id": "c", "conversation": {"session_1_date_time": "soon", "session_1": []},
                               "qa": []}]);
        assert!(Dataset::parse(&bad_date, false).is_err());
    }
}
