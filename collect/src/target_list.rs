//! `--targets FILE`: one URL a line (`#` starts a comment), or a Citizen Lab test list
//! (`url,category_code,category_description,date_added,source,notes`, told by a header with a
//! `url` column),
//! whose category code each URL keeps in its attempt records.

/// One URL to measure, and its test list's category code, if it came from one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUrl {
    pub url: String,
    pub category: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetListError {
    #[error("line {line}: {detail}")]
    Csv { line: u64, detail: String },
}

/// A header line: comma-separated names, one of them `url`.
fn is_test_list_header(line: &str) -> bool {
    line.split(',').any(|field| field.trim().trim_matches('"').eq_ignore_ascii_case("url"))
}

/// The URLs of a target file, with their categories.
pub fn parse_target_list(text: &str) -> Result<Vec<ListedUrl>, TargetListError> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    if is_test_list_header(first) {
        return parse_test_list(text);
    }
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|url| ListedUrl { url: url.to_string(), category: None })
        .collect())
}

/// A Citizen Lab test list: CSV with a header (quoted fields may hold commas and newlines).
fn parse_test_list(text: &str) -> Result<Vec<ListedUrl>, TargetListError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header =
        reader.headers().map_err(|e| TargetListError::Csv { line: 1, detail: e.to_string() })?.clone();
    let column = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let Some(url) = column("url") else { return Ok(Vec::new()) };
    let category = column("category_code");
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| TargetListError::Csv {
            line: e.position().map_or(0, |p| p.line()),
            detail: e.to_string(),
        })?;
        let Some(u) = record.get(url).map(str::trim).filter(|u| !u.is_empty()) else { continue };
        let category = category.and_then(|c| record.get(c)).map(str::trim).filter(|c| !c.is_empty());
        out.push(ListedUrl { url: u.to_string(), category: category.map(String::from) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_citizen_lab_test_list_keeps_its_categories() {
        let list = "url,category_code,category_description,date_added,source,notes\n\
                    http://example.test/,NEWS,News Media,2017-04-12,citizenlab,\"a note, with a comma\"\n\
                    https://other.test/x,HUMR,Human Rights Issues,2014-04-15,,\n\
                    http://third.test/,,,,,\n";
        let urls = parse_target_list(list).unwrap();
        assert_eq!(
            urls,
            vec![
                ListedUrl { url: "http://example.test/".into(), category: Some("NEWS".into()) },
                ListedUrl { url: "https://other.test/x".into(), category: Some("HUMR".into()) },
                ListedUrl { url: "http://third.test/".into(), category: None },
            ]
        );
    }

    #[test]
    fn a_plain_list_still_works_and_columns_are_found_by_name() {
        let urls = parse_target_list("# mine\nhttp://a.test/  # first\n\nhttp://b.test/\n").unwrap();
        assert_eq!(
            urls.iter().map(|u| u.url.as_str()).collect::<Vec<_>>(),
            ["http://a.test/", "http://b.test/"]
        );
        assert!(urls.iter().all(|u| u.category.is_none()));
        // The columns in another order; a header alone.
        let urls = parse_target_list("category_code,url\nNEWS,http://a.test/\n").unwrap();
        assert_eq!(urls, vec![ListedUrl { url: "http://a.test/".into(), category: Some("NEWS".into()) }]);
        assert_eq!(parse_target_list("url\n").unwrap(), vec![]);
    }
}
