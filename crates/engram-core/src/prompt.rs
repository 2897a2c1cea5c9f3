//! The compiled system message: base instructions, core memory blocks, memory statistics and the summary of
//! evicted messages, rendered fresh from stored state before every model call.
//!
//! Rendering is a pure function of its inputs; the runtime counts each section's tokens separately, so the sections
//! are returned alongside the joined text.

use chrono::{DateTime, Utc};

use crate::block::Block;
use crate::text::char_len;

/// Facts about the agent's memory the model should know but cannot see.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryStats {
    /// Messages in recall memory that are no longer in the context window.
    pub recall_out_of_window: u64,
    pub archival_passages: u64,
    /// Archival tags in use, most used first.
    pub archival_tags: Vec<String>,
    pub now: DateTime<Utc>,
    pub last_compaction: Option<DateTime<Utc>>,
}

/// The evicted-history summary as rendered in the system message.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryView<'a> {
    pub text: &'a str,
    pub created_at: DateTime<Utc>,
}

/// The compiled system message and its sections.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSystem {
    /// The agent's base instructions.
    pub instructions: String,
    /// The rendered core memory blocks.
    pub core_memory: String,
    /// Memory statistics.
    pub stats: String,
    /// The summary section; empty when there is no summary.
    pub summary: String,
}

/// Separates the sections of the system message.
pub const SECTION_SEPARATOR: &str = "\n\n";

impl CompiledSystem {
    /// The system message exactly as sent: non-empty sections joined by [`SECTION_SEPARATOR`].
    pub fn text(&self) -> String {
        [&self.instructions, &self.core_memory, &self.stats, &self.summary]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(SECTION_SEPARATOR)
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Renders the core memory section. Each block is delimited by `<label>` tags the model can quote exactly, and its
/// header says how full it is and whether it may be edited.
pub fn render_core_memory(blocks: &[Block]) -> String {
    let mut out = String::from(
        "<core_memory>\nYour core memory blocks. They are always in view; edit them with your memory tools.",
    );
    for block in blocks {
        let label = block.label.as_str();
        out.push_str(&format!("\n<{label}>\n"));
        if let Some(description) = block.description.as_deref().filter(|d| !d.is_empty()) {
            out.push_str(&format!("description: {description}\n"));
        }
        let access = if block.read_only { "read-only" } else { "editable" };
        out.push_str(&format!("chars: {}/{}, {access}\n", char_len(&block.value), block.limit.get()));
        out.push_str("---\n");
        out.push_str(&block.value);
        out.push_str(&format!("\n</{label}>"));
    }
    out.push_str("\n</core_memory>");
    out
}

/// Renders the memory statistics section.
pub fn render_stats(stats: &MemoryStats) -> String {
    let tags = if stats.archival_tags.is_empty() { "none".to_owned() } else { stats.archival_tags.join(", ") };
    let compaction = stats.last_compaction.map_or_else(|| "never".to_owned(), time);
    format!(
        "<memory_stats>\n\
         Messages in recall memory outside your context window: {} (search them with conversation_search).\n\
         Passages in archival memory: {} (search them with archival_memory_search). Tags in use: {tags}.\n\
         Current time: {}. Last compaction: {compaction}.\n\
         </memory_stats>",
        stats.recall_out_of_window,
        stats.archival_passages,
        time(stats.now),
    )
}

/// Renders the summary section.
pub fn render_summary(summary: &SummaryView<'_>) -> String {
    format!(
        "<conversation_summary>\nSummary of earlier messages that left your context window (written {}):\n{}\n</conversation_summary>",
        time(summary.created_at),
        summary.text
    )
}

/// Compiles the whole system message.
pub fn compile_system(
    instructions: &str,
    blocks: &[Block],
    stats: &MemoryStats,
    summary: Option<&SummaryView<'_>>,
) -> CompiledSystem {
    CompiledSystem {
        instructions: instructions.to_owned(),
        core_memory: render_core_memory(blocks),
        stats: render_stats(stats),
        summary: summary.map(render_summary).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::block::{BlockLabel, BlockLimit};
    use crate::id::BlockId;

    fn block(label: &str, value: &str, description: Option<&str>, read_only: bool) -> Block {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        Block {
            id: BlockId::from_ulid(ulid::Ulid::nil()),
            label: BlockLabel::parse("label", label).unwrap(),
            value: value.to_owned(),
            limit: BlockLimit::parse("limit", 100).unwrap(),
            description: description.map(str::to_owned),
            read_only,
            version: 1,
            agent_ids: Vec::new(),
            standalone: false,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn the_system_message_renders_every_section() {
        let blocks = [
            block("persona", "I am Sam.", Some("Who you are"), false),
            block("policy", "Be kind.\nBe brief.", None, true),
        ];
        let stats = MemoryStats {
            recall_out_of_window: 12,
            archival_passages: 3,
            archival_tags: vec!["travel".into(), "work".into()],
            now: Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 59).unwrap(),
            last_compaction: None,
        };
        let summary = SummaryView { text: "We met.", created_at: Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap() };
        let compiled = compile_system("Be helpful.", &blocks, &stats, Some(&summary));
        assert_eq!(
            compiled.text(),
            "Be helpful.

<core_memory>
Your core memory blocks. They are always in view; edit them with your memory tools.
<persona>
description: Who you are
chars: 9/100, editable
---
I am Sam.
</persona>
<policy>
chars: 18/100, read-only
---
Be kind.
Be brief.
</policy>
</core_memory>

<memory_stats>
Messages in recall memory outside your context window: 12 (search them with conversation_search).
Passages in archival memory: 3 (search them with archival_memory_search). Tags in use: travel, work.
Current time: 2026-11-21 09:30 UTC. Last compaction: never.
</memory_stats>

<conversation_summary>
Summary of earlier messages that left your context window (written 2026-11-20 08:00 UTC):
We met.
</conversation_summary>"
        );
    }

    #[test]
    fn without_summary_or_blocks_the_sections_are_omitted_or_empty() {
        let stats = MemoryStats {
            recall_out_of_window: 0,
            archival_passages: 0,
            archival_tags: Vec::new(),
            now: Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 0).unwrap(),
            last_compaction: Some(Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()),
        };
        let compiled = compile_system("Base.", &[], &stats, None);
        assert!(compiled.summary.is_empty());
        assert!(compiled.text().ends_with("Last compaction: 2026-11-21 09:00 UTC.\n</memory_stats>"));
        assert!(compiled.text().contains("Tags in use: none."));
        assert_eq!(compiled.core_memory.lines().count(), 3);
    }
}
