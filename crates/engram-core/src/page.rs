//! Cursor pagination: a validated page size and an opaque `after` cursor; pages carry the cursor of the next one.

crate::bounded::bounded_u32!(
    /// Items per page: `1..=1000`, default 50.
    PageLimit, max = 1000, default = 50
);

/// Where a page starts: after the item whose cursor is given, or at the beginning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: PageLimit,
    /// The `next_cursor` of the previous page. Cursors are opaque to clients; for most lists they are the last id.
    pub after: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only tells that there is more.
    pub fn from_overfetch(mut rows: Vec<T>, limit: PageLimit, cursor_of: impl Fn(&T) -> String) -> Self {
        let limit = limit.get() as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(cursor_of) } else { None };
        Self { items: rows, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert!(PageLimit::parse("limit", 0).is_err());
        assert!(PageLimit::parse("limit", 1001).is_err());
        assert_eq!(PageLimit::parse("limit", 1000).map(PageLimit::get), Ok(1000));
    }

    #[test]
    fn overfetch_sets_cursor_only_when_more() {
        let limit = PageLimit::parse("limit", 2).unwrap_or_default();
        let page = Page::from_overfetch(vec![1, 2, 3], limit, i32::to_string);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let page = Page::from_overfetch(vec![1, 2], limit, i32::to_string);
        assert_eq!(page.next_cursor, None);
    }
}
