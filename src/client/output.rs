//! Printing an answer: proto JSON, or a table derived from the message's descriptor.
//!
//! The table has two shapes. An answer holding one resource (or a decision) prints
//! `field  value` rows: nested messages flattened with dots, repeated values joined with
//! commas (repeated messages without a one-word form get an index: `grants.0.source.kind`);
//! a field with nothing to show (an empty text or list, an unset time) has no row, where a
//! `false` or a `0` is a value and keeps its row.
//! A list answer prints one row per item, a column per scalar field (nested ones dotted),
//! leaving out columns where every row holds the default value. Either way the
//! `next_page_token` (when there is one) and the `revision` come last.

use std::fmt::Write as _;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage as _, Value};

use super::text;

/// The fields every answer ends with.
const TRAILER: &[&str] = &["next_page_token", "revision"];

/// The answer as one pretty-printed proto JSON document (lowerCamelCase field names,
/// enums by full name, 64-bit integers as strings, default values left out).
pub(crate) fn json(reply: &DynamicMessage) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(reply)
}

/// The answer as a readable table.
pub(crate) fn table(reply: &DynamicMessage) -> String {
    let descriptor = reply.descriptor();
    let body: Vec<FieldDescriptor> = descriptor
        .fields()
        .filter(|f| !TRAILER.contains(&f.name()))
        .collect();
    let mut trailer = Vec::new();
    for name in TRAILER {
        if let Some(field) = descriptor.get_field_by_name(name) {
            let value = reply.get_field(&field);
            if let Some(cell) = scalar_cell(&field, &value, true)
                && !(*name == "next_page_token" && cell.is_empty())
            {
                trailer.push(((*name).to_owned(), cell));
            }
        }
    }
    match body.as_slice() {
        [list] if list.is_list() => {
            let items = reply.get_field(list);
            let mut out = list_table(list, items.as_list().unwrap_or_default());
            if !trailer.is_empty() {
                out.push('\n');
                out.push_str(&two_columns(&trailer));
            }
            out
        }
        [one] if is_nested(one) && !one.is_list() => {
            let mut rows = Vec::new();
            if let Some(inner) = reply.get_field(one).as_message() {
                flatten(inner, "", &mut rows);
            }
            rows.extend(trailer);
            two_columns(&rows)
        }
        _ => {
            let mut rows = Vec::new();
            flatten(reply, "", &mut rows);
            rows.retain(|(key, _)| !TRAILER.contains(&key.as_str()));
            rows.extend(trailer);
            two_columns(&rows)
        }
    }
}

/// Whether a field holds messages that print as several cells (not a one-word form).
fn is_nested(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Message(desc) => !text::has_form(&desc) && !field.is_map(),
        _ => false,
    }
}

/// The text of a field that prints as one cell (scalars, enums, one-word messages, and
/// lists or maps of those); `None` for nested messages. `present` tells an unset message
/// (empty cell) from a set one.
fn scalar_cell(field: &FieldDescriptor, value: &Value, present: bool) -> Option<String> {
    if is_nested(field) {
        return None;
    }
    let kind = field.kind();
    Some(match value {
        Value::List(items) => items
            .iter()
            .map(|item| scalar_text(&kind, item))
            .collect::<Vec<_>>()
            .join(","),
        Value::Map(map) => {
            let mut pairs: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{}={}", map_key_text(key), value_text(value)))
                .collect();
            pairs.sort();
            pairs.join(",")
        }
        Value::Message(_) if !present => String::new(),
        _ => scalar_text(&kind, value),
    })
}

fn map_key_text(key: &MapKey) -> String {
    match key {
        MapKey::Bool(v) => v.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
        MapKey::String(v) => v.clone(),
    }
}

/// A value without its field's type at hand (map values): enums print as numbers.
fn value_text(value: &Value) -> String {
    match value {
        Value::EnumNumber(n) => n.to_string(),
        Value::Message(m) => text::format_message(m).unwrap_or_else(|| compact(m)),
        other => scalar_text(&Kind::String, other),
    }
}

/// One scalar, enum or one-word message.
fn scalar_text(kind: &Kind, value: &Value) -> String {
    match value {
        Value::Bool(v) => v.to_string(),
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::F32(v) => v.to_string(),
        Value::F64(v) => v.to_string(),
        Value::String(v) => v.clone(),
        Value::Bytes(v) => String::from_utf8_lossy(v).into_owned(),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(enum_desc) => text::enum_name(enum_desc, *n),
            _ => n.to_string(),
        },
        Value::Message(m) => text::format_message(m).unwrap_or_else(|| compact(m)),
        Value::List(_) | Value::Map(_) => value_text(value),
    }
}

/// `field  value` rows of a message: nested messages that are set, flattened with dots;
/// repeated nested messages with their index. A field with an empty cell gets no row, as
/// the JSON output leaves it out: a key with nothing after it only reads as a cut line.
fn flatten(message: &DynamicMessage, prefix: &str, rows: &mut Vec<(String, String)>) {
    for field in message.descriptor().fields() {
        let key = format!("{prefix}{}", field.name());
        let present = message.has_field(&field);
        let value = message.get_field(&field);
        if let Some(cell) = scalar_cell(&field, &value, present) {
            if !cell.is_empty() {
                rows.push((key, cell));
            }
            continue;
        }
        match &*value {
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(inner) = item.as_message() {
                        flatten(inner, &format!("{key}.{i}."), rows);
                    }
                }
            }
            Value::Message(inner) if present => flatten(inner, &format!("{key}."), rows),
            _ => {}
        }
    }
}

/// A message in one cell: `{field=value …}` of its non-default leaves.
fn compact(message: &DynamicMessage) -> String {
    let mut cells = Vec::new();
    columns(message, "", &mut cells);
    let inner: Vec<String> = cells
        .into_iter()
        .filter(|cell| !cell.default)
        .map(|cell| format!("{}={}", cell.key, cell.text))
        .collect();
    format!("{{{}}}", inner.join(" "))
}

/// One cell of a list row.
#[derive(Debug)]
struct Cell {
    key: String,
    text: String,
    /// Holds the field's default value (columns of defaults only are left out).
    default: bool,
}

/// The cells of a list item, one per leaf field. Unset nested messages still give their
/// (empty, default) cells, so that every row has the same columns.
fn columns(message: &DynamicMessage, prefix: &str, cells: &mut Vec<Cell>) {
    for field in message.descriptor().fields() {
        let key = format!("{prefix}{}", field.name());
        let present = message.has_field(&field);
        let value = message.get_field(&field);
        if let Some(text) = scalar_cell(&field, &value, present) {
            cells.push(Cell {
                key,
                text,
                default: !present,
            });
            continue;
        }
        match &*value {
            Value::List(items) => cells.push(Cell {
                key,
                text: items
                    .iter()
                    .map(|item| item.as_message().map(compact).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("; "),
                default: items.is_empty(),
            }),
            Value::Message(inner) => {
                let start = cells.len();
                columns(inner, &format!("{key}."), cells);
                if !present {
                    // An unset message (e.g. the other member of a oneof) shows as blanks,
                    // not as its fields' defaults.
                    for cell in cells.iter_mut().skip(start) {
                        cell.text.clear();
                        cell.default = true;
                    }
                }
            }
            _ => {}
        }
    }
}

/// A list answer: a header of column names, then one row per item.
fn list_table(field: &FieldDescriptor, items: &[Value]) -> String {
    if items.is_empty() {
        return format!("no {}\n", field.name().replace('_', " "));
    }
    let rows: Vec<Vec<Cell>> = items
        .iter()
        .map(|item| match item.as_message() {
            Some(message) if is_nested(field) => {
                let mut cells = Vec::new();
                columns(message, "", &mut cells);
                cells
            }
            _ => vec![Cell {
                key: field.name().to_owned(),
                text: scalar_text(&field.kind(), item),
                default: false,
            }],
        })
        .collect();
    // Every row has the same keys in the same order (they come from one descriptor).
    let header: Vec<&Cell> = rows
        .first()
        .map(|row| row.iter().collect())
        .unwrap_or_default();
    let keep: Vec<bool> = (0..header.len())
        .map(|i| {
            rows.iter()
                .any(|row| row.get(i).is_some_and(|cell| !cell.default))
        })
        .collect();
    let mut table: Vec<Vec<String>> = vec![
        header
            .iter()
            .zip(&keep)
            .filter(|(_, keep)| **keep)
            .map(|(cell, _)| cell.key.to_ascii_uppercase())
            .collect(),
    ];
    for row in &rows {
        table.push(
            row.iter()
                .zip(&keep)
                .filter(|(_, keep)| **keep)
                .map(|(cell, _)| cell.text.clone())
                .collect(),
        );
    }
    aligned(&table)
}

/// `key  value` rows, keys padded to one width.
fn two_columns(rows: &[(String, String)]) -> String {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(key, value)| vec![key.clone(), value.clone()])
        .collect();
    aligned(&table)
}

/// Rows of cells, each column padded to its widest cell and two spaces apart (the last
/// column unpadded, so lines carry no trailing blanks).
fn aligned(table: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in table {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for row in table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let width = widths.get(i).copied().unwrap_or_default();
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
