//! One extra row for every `query` that may yield none, because Spin
//! 4.0.2's synchronous `spin:postgres` `query` never returns for a statement
//! that yields no row: it collects the rows, then waits for the column list,
//! which only its first row sends (`factor-outbound-pg`,
//! `PooledTokioClient::query`). A guarded update that changes nothing, a
//! lookup that finds nothing: each would hang the request.
//!
//! [`wrap`] turns a statement into one that yields its rows, each with a
//! leading `__present = true`, then one row with `__present = false` and the
//! statement's columns NULL; [`PRESENT`] names that column, which `component_kit::db::query`
//! drops with the extra row. A statement with a `WITH` list keeps it, the
//! statement proper becoming its last entry, so its data-modifying CTEs stay
//! at the top level where Postgres wants them.

/// The leading column that tells a statement's rows from the extra one.
pub const PRESENT: &str = "__present";

/// `statement` with the extra row (see the module docs).
pub fn wrap(statement: &str) -> String {
    let statement = statement.trim().trim_end_matches(';').trim_end();
    let (ctes, main) = split_with(statement);
    let ctes = ctes.map(|list| format!("{list}, ")).unwrap_or_default();
    format!(
        "WITH {ctes}__rows AS ({main}) \
         SELECT true AS {PRESENT}, __rows.* FROM __rows \
         UNION ALL SELECT false, __rows.* FROM (SELECT) AS __none LEFT JOIN __rows ON false"
    )
}

/// A statement's leading `WITH` list (without the keyword) and the
/// statement proper; `None` for a statement without one.
fn split_with(statement: &str) -> (Option<&str>, &str) {
    let Some(rest) = strip_keyword(statement, "WITH") else {
        return (None, statement);
    };
    let bytes = rest.as_bytes();
    let mut depth = 0usize;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            // Skip quoted text and identifiers whole: they may hold parentheses.
            quote @ (b'\'' | b'"') => {
                index += 1;
                while index < bytes.len() && bytes[index] != quote {
                    index += 1;
                }
            }
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let after = rest[index + 1..].trim_start();
                    // `name (columns) AS (...)`, or another entry: the list goes on.
                    let continues = after.starts_with(',')
                        || strip_keyword(after, "AS").is_some()
                        || strip_keyword(after, "SEARCH").is_some()
                        || strip_keyword(after, "CYCLE").is_some();
                    if !continues {
                        return (Some(rest[..index + 1].trim()), after);
                    }
                }
            }
            _ => {}
        }
        index += 1;
    }
    (None, statement)
}

/// `text` after a leading `keyword` (any case) and the space after it.
fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let head = text.get(..keyword.len())?;
    let rest = &text[keyword.len()..];
    (head.eq_ignore_ascii_case(keyword) && rest.starts_with(|c: char| c.is_whitespace() || c == '(')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_statement_becomes_the_only_entry() {
        assert_eq!(
            wrap("SELECT id FROM calls WHERE id = $1;"),
            "WITH __rows AS (SELECT id FROM calls WHERE id = $1) SELECT true AS __present, __rows.* FROM __rows \
             UNION ALL SELECT false, __rows.* FROM (SELECT) AS __none LEFT JOIN __rows ON false"
        );
    }

    #[test]
    fn a_with_list_stays_at_the_top_level() {
        let wrapped = wrap(
            "WITH u (id) AS (INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id), \
             due AS (SELECT id FROM calls WHERE note = 'a ) b' AND \"odd)\" > 0 FOR UPDATE SKIP LOCKED)\n\
             UPDATE calls c SET status = 'missed' FROM due WHERE c.id = due.id RETURNING c.id",
        );
        assert!(
            wrapped.starts_with(
                "WITH u (id) AS (INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id), \
                 due AS (SELECT id FROM calls WHERE note = 'a ) b' AND \"odd)\" > 0 FOR UPDATE SKIP LOCKED), \
                 __rows AS (UPDATE calls c SET status = 'missed' FROM due WHERE c.id = due.id RETURNING c.id) "
            ),
            "{wrapped}"
        );
    }

    #[test]
    fn a_with_only_inside_is_not_a_list() {
        assert!(wrap("SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) y").starts_with("WITH __rows AS (SELECT * FROM (WITH"));
        assert!(wrap("WITHOUT_TABLE_FUNC()").starts_with("WITH __rows AS (WITHOUT_TABLE_FUNC())"));
    }
}
