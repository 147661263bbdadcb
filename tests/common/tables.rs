//! The written tables against their schemas (schemas/*.json): column order, Arrow types,
//! nulls, enumerations.

use std::fs;
use std::path::Path;

use polars::prelude::*;

use super::root;

pub fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(fs::File::open(path).unwrap()).finish().unwrap()
}

pub fn schema_of(table: &str) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(root().join(format!("schemas/{table}.json"))).unwrap()).unwrap()
}

pub fn arrow_name(dtype: &DataType) -> String {
    match dtype {
        DataType::String => "Utf8".into(),
        DataType::Datetime(TimeUnit::Nanoseconds, Some(tz)) => format!("Datetime(ns, {tz})"),
        DataType::List(inner) => format!("List({})", arrow_name(inner)),
        DataType::Boolean => "Boolean".into(),
        DataType::UInt8 => "UInt8".into(),
        DataType::UInt16 => "UInt16".into(),
        DataType::UInt32 => "UInt32".into(),
        DataType::UInt64 => "UInt64".into(),
        DataType::Float64 => "Float64".into(),
        other => format!("{other:?}"),
    }
}

pub fn assert_matches_schema(df: &DataFrame, doc: &serde_json::Value) {
    let order: Vec<&str> =
        doc["x-column-order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    assert_eq!(names, order, "column order");
    for column in df.columns() {
        let spec = &doc["properties"][column.name().as_str()];
        assert_eq!(
            arrow_name(column.dtype()),
            spec["x-arrow-type"].as_str().unwrap(),
            "type of {}",
            column.name()
        );
        let nullable = spec["type"].as_array().is_some_and(|t| t.iter().any(|v| v == "null"));
        if !nullable {
            assert_eq!(column.null_count(), 0, "{} is not nullable", column.name());
        }
        if let Some(allowed) = spec["enum"].as_array() {
            let as_text = column.cast(&DataType::String).unwrap();
            for value in as_text.str().unwrap().iter().flatten() {
                assert!(
                    allowed.iter().any(|a| a.as_str() == Some(value)
                        || a.as_u64().map(|n| n.to_string()).as_deref() == Some(value)),
                    "{} = {value} is not in the schema's enum",
                    column.name()
                );
            }
        }
    }
    for column in df.columns().iter().filter(|c| matches!(c.dtype(), DataType::List(_))) {
        let spec = &doc["properties"][column.name().as_str()];
        let nullable = spec["type"].as_array().is_some_and(|t| t.iter().any(|v| v == "null"));
        if let Some(allowed) = spec["items"]["enum"].as_array() {
            for row in column.list().unwrap().series_iter().flatten() {
                for item in row.str().unwrap().iter().flatten() {
                    assert!(allowed.iter().any(|a| a == item), "{}: {item} not in the schema", column.name());
                }
            }
        }
        if !nullable {
            assert_eq!(column.null_count(), 0, "{}: an empty list is never null", column.name());
        }
    }
}
