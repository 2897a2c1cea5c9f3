//! Resource URIs of core memory blocks: `engram://agents/{agent_id}/blocks/{label}`.

use engram_core::block::BlockLabel;
use engram_core::id::AgentId;

/// The URI template of block resources, as listed by `resources/templates/list`.
pub const BLOCK_URI_TEMPLATE: &str = "engram://agents/{agent_id}/blocks/{label}";

const PREFIX: &str = "engram://agents/";
const BLOCKS: &str = "/blocks/";

/// The URI of the block `label` of `agent`.
pub fn block_uri(agent: AgentId, label: &BlockLabel) -> String {
    format!("{PREFIX}{agent}{BLOCKS}{label}")
}

/// The agent and label a block URI names, or `None` when `uri` is not one.
pub fn parse_block_uri(uri: &str) -> Option<(AgentId, BlockLabel)> {
    let rest = uri.strip_prefix(PREFIX)?;
    let (agent, label) = rest.split_once(BLOCKS)?;
    Some((AgentId::parse("uri", agent).ok()?, BlockLabel::parse("uri", label).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uri: &str, expected: Option<&str>) {
        let parsed = parse_block_uri(uri).map(|(agent, label)| block_uri(agent, &label));
        assert_eq!(parsed.as_deref(), expected, "{uri}");
    }

    #[test]
    fn block_uris_round_trip_and_nothing_else_parses() {
        let good = "engram://agents/agent_01HZZZZZZZZZZZZZZZZZZZZZZZ/blocks/human";
        check(good, Some(good));
        check("engram://agents/agent_01HZZZZZZZZZZZZZZZZZZZZZZZ/blocks/Human", None);
        check("engram://agents/agent_01HZZZZZZZZZZZZZZZZZZZZZZZ/blocks/human/x", None);
        check("engram://agents/not-an-id/blocks/human", None);
        check("engram://agents/agent_01HZZZZZZZZZZZZZZZZZZZZZZZ/passages/human", None);
        check("file:///etc/passwd", None);
        check("", None);
    }
}
