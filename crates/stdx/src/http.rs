//! http: header lookup by name in any spelling. HTTP header names are case-insensitive, and
//! the servers, clients and test doubles of the workspace keep headers as `(name, value)`
//! pairs in the order they arrived.

/// The first value of header `name`, whatever the case of either spelling.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Every value of header `name` in the order received (a header may be sent more than once).
pub fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_any_case_and_the_first_value_wins() {
        let headers = vec![
            ("Content-Type".to_owned(), "text/plain".to_owned()),
            ("x-seen".to_owned(), "a".to_owned()),
            ("X-Seen".to_owned(), "b".to_owned()),
        ];
        assert_eq!(header(&headers, "content-type"), Some("text/plain"));
        assert_eq!(header(&headers, "X-SEEN"), Some("a"));
        assert_eq!(
            header_values(&headers, "x-seen").collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(header(&headers, "location"), None);
    }
}
