//! Protocol revisions this server speaks and what differs between them.
//!
//! Legacy revisions (2024-11-05 … 2025-11-25) open with the `initialize` handshake; the
//! modern revision 2026-07-28 carries its version in every request's `_meta`
//! (docs/2026-07-28/basic/versioning.mdx). Every revision-dependent decision in the core
//! is a method here, so the differences are listed in one place.

/// A protocol revision, oldest first (the derived order is chronological).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    V2024_11_05,
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every supported revision, newest first (the order `supportedVersions` lists them).
    pub const ALL: [ProtocolVersion; 5] = [
        ProtocolVersion::V2026_07_28,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2024_11_05,
    ];

    /// The newest legacy revision: the answer to an `initialize` naming one we lack.
    pub const NEWEST_LEGACY: ProtocolVersion = ProtocolVersion::V2025_11_25;

    /// The revision HTTP requests without an `MCP-Protocol-Version` header are assumed to
    /// speak (docs/2025-11-25/basic/transports.mdx, "Protocol Version Header").
    pub const HTTP_DEFAULT: ProtocolVersion = ProtocolVersion::V2025_03_26;

    pub fn parse(text: &str) -> Option<ProtocolVersion> {
        ProtocolVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2024_11_05 => "2024-11-05",
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => "2026-07-28",
        }
    }

    /// Every supported revision as strings, newest first.
    pub fn all_strings() -> Vec<&'static str> {
        ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect()
    }

    /// Modern revisions are stateless and carry `_meta` on every request.
    pub fn is_modern(self) -> bool {
        self >= ProtocolVersion::V2026_07_28
    }

    /// JSON-RPC batches exist only in 2025-03-26 (added there, removed in 2025-06-18).
    pub fn allows_batches(self) -> bool {
        self == ProtocolVersion::V2025_03_26
    }

    /// `title` on prompts, tools, arguments and `Implementation` arrived in 2025-06-18.
    pub fn has_titles(self) -> bool {
        self >= ProtocolVersion::V2025_06_18
    }

    /// Tool `annotations` arrived in 2025-03-26.
    pub fn has_tool_annotations(self) -> bool {
        self >= ProtocolVersion::V2025_03_26
    }

    /// `outputSchema` and `structuredContent` arrived in 2025-06-18.
    pub fn has_structured_content(self) -> bool {
        self >= ProtocolVersion::V2025_06_18
    }

    /// From 2025-11-25 on, arguments that fail a tool's input schema are tool execution
    /// errors (`isError: true`) so the model can correct itself; before, -32602
    /// (docs/2025-11-25/server/tools.mdx, "Error Handling").
    pub fn input_errors_are_tool_errors(self) -> bool {
        self >= ProtocolVersion::V2025_11_25
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ProtocolVersion as V;

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        for v in V::ALL {
            assert_eq!(V::parse(v.as_str()), Some(v));
        }
        assert_eq!(V::parse("2025-01-01"), None);
        assert_eq!(V::parse("2.1"), None);
    }

    #[test]
    fn revision_table() {
        let batches: Vec<_> = V::ALL.into_iter().filter(|v| v.allows_batches()).collect();
        assert_eq!(batches, [V::V2025_03_26]);
        assert!(!V::V2025_06_18.input_errors_are_tool_errors());
        assert!(V::V2025_11_25.input_errors_are_tool_errors());
        assert!(V::V2026_07_28.is_modern() && !V::V2025_11_25.is_modern());
        assert!(!V::V2024_11_05.has_tool_annotations() && V::V2025_03_26.has_tool_annotations());
        assert_eq!(V::all_strings()[0], "2026-07-28");
    }
}
