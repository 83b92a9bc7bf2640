//! Flags → request: each table flag is bound to its field in the method's input message,
//! becomes a clap argument shaped by the field's type, and fills a `DynamicMessage`.
//!
//! How a value is read follows the field: strings as given; bools are switches (no value);
//! integers in decimal; enums by their short name in any case (`--kind support`,
//! `--role customized-administrator`) or full name, never `UNSPECIFIED` nor a value the
//! server always refuses through the flag (clap turns those down before any call);
//! repeated fields from comma-separated values and/or repeated flags; messages from their
//! one-word form (see `text.rs`) or proto JSON (`{…}`, and `[…]` for a whole repeated
//! field).

use std::{collections::HashMap, fmt::Write as _};

use clap::{Arg, ArgAction, ArgMatches};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

use super::{
    commands::Flag,
    text::{self, EnumValues},
};

/// A table flag bound to its field: the message fields leading to it, then the field.
#[derive(Debug, Clone)]
pub(crate) struct BoundFlag {
    /// The table row.
    pub(crate) flag: &'static Flag,
    /// The singular message fields walked through (`security_group`, `scope`).
    parents: Vec<FieldDescriptor>,
    /// The field the value goes to.
    pub(crate) field: FieldDescriptor,
    /// For an enum field, the values the flag accepts.
    enum_values: Option<EnumValues>,
}

impl BoundFlag {
    /// Finds the field `flag.path` names in `input`.
    pub(crate) fn resolve(input: &MessageDescriptor, flag: &'static Flag) -> Result<Self, String> {
        let mut message = input.clone();
        let mut parents = Vec::new();
        let mut segments = flag.path.split('.').peekable();
        while let Some(segment) = segments.next() {
            let field = message.get_field_by_name(segment).ok_or_else(|| {
                format!(
                    "`--{}`: `{}` has no field `{segment}`",
                    flag.name,
                    message.full_name()
                )
            })?;
            if segments.peek().is_none() {
                if field.is_map() {
                    return Err(format!("`--{}`: map fields cannot be flags", flag.name));
                }
                let enum_values = match field.kind() {
                    Kind::Enum(desc) => Some(
                        EnumValues::refusing(desc, flag.refused)
                            .map_err(|err| format!("`--{}`: {err}", flag.name))?,
                    ),
                    _ if flag.refused.is_empty() => None,
                    _ => {
                        return Err(format!(
                            "`--{}`: refused values belong only to enum fields",
                            flag.name
                        ));
                    }
                };
                return Ok(Self {
                    flag,
                    parents,
                    field,
                    enum_values,
                });
            }
            let Kind::Message(inner) = field.kind() else {
                return Err(format!("`--{}`: `{segment}` is not a message", flag.name));
            };
            if field.is_list() {
                return Err(format!("`--{}`: `{segment}` is repeated", flag.name));
            }
            message = inner;
            parents.push(field);
        }
        Err(format!("`--{}`: empty field path", flag.name))
    }

    /// A singular bool is a switch: present means true.
    fn is_switch(&self) -> bool {
        self.field.kind() == Kind::Bool && !self.field.is_list()
    }

    /// The clap argument; `doc` is the field's proto comment, used when the table has no
    /// help of its own.
    pub(crate) fn arg(&self, doc: Option<&str>) -> Arg {
        let flag = self.flag;
        let mut help = if flag.help.is_empty() {
            doc.unwrap_or_default().to_owned()
        } else {
            flag.help.to_owned()
        };
        let mut arg = Arg::new(flag.name).long(flag.name).required(flag.required);
        if self.is_switch() {
            return arg.action(ArgAction::SetTrue).help(help);
        }
        if let Some(values) = &self.enum_values {
            let _ = write!(help, " [values: {}]", values.choices());
            arg = arg.value_parser(enum_value_parser(values.clone(), self.field.is_list()));
        }
        let value_name = match self.field.kind() {
            Kind::Enum(_) => Some("VALUE"),
            Kind::Message(desc) => Some(text::value_name(&desc)),
            Kind::Bool => Some("BOOL"),
            Kind::Float | Kind::Double => Some("NUMBER"),
            Kind::Bytes => Some("BYTES"),
            // Strings show the flag's own name (`--tenant <TENANT>`).
            Kind::String => None,
            _ => Some("N"),
        };
        arg = if self.field.is_list() {
            help.push_str(" [comma-separated; repeatable]");
            arg.action(ArgAction::Append)
        } else {
            arg.action(ArgAction::Set)
        };
        match value_name {
            Some(name) => arg.value_name(name),
            None => arg,
        }
        .help(help)
    }

    /// The value the command line gives this flag, if any.
    fn value(&self, matches: &ArgMatches) -> Result<Option<Value>, String> {
        let name = self.flag.name;
        if self.is_switch() {
            return Ok(matches.get_flag(name).then_some(Value::Bool(true)));
        }
        let Some(mut raws) = matches.get_many::<String>(name) else {
            return Ok(None);
        };
        let invalid =
            |raw: &str, rule: String| format!("invalid value `{raw}` for `--{name}`: {rule}");
        let kind = self.field.kind();
        if !self.field.is_list() {
            let Some(raw) = raws.next_back() else {
                return Ok(None);
            };
            return self
                .parse_one(&kind, raw)
                .map(Some)
                .map_err(|rule| invalid(raw, rule));
        }
        let mut items = Vec::new();
        for raw in raws {
            let json = raw.trim_start();
            match &kind {
                Kind::Message(desc) if json.starts_with('[') => {
                    items.extend(parse_json_list(desc, raw).map_err(|rule| invalid(raw, rule))?);
                }
                // A JSON object holds commas of its own: it is one item.
                Kind::Message(_) if json.starts_with('{') => {
                    items.push(
                        self.parse_one(&kind, raw)
                            .map_err(|rule| invalid(raw, rule))?,
                    );
                }
                _ => {
                    for piece in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        items.push(
                            self.parse_one(&kind, piece)
                                .map_err(|rule| invalid(piece, rule))?,
                        );
                    }
                }
            }
        }
        Ok(Some(Value::List(items)))
    }

    /// One value of the field (of `kind`); the error is the rule it breaks.
    fn parse_one(&self, kind: &Kind, raw: &str) -> Result<Value, String> {
        match (kind, &self.enum_values) {
            (Kind::Enum(_), Some(values)) => Ok(Value::EnumNumber(values.parse(raw)?)),
            _ => parse_scalar(kind, raw),
        }
    }
}

/// A clap value parser that lets through only the values an enum flag accepts (each
/// comma-separated piece of a repeated one), so that clap refuses the rest as a usage
/// error (exit 2) before anything is sent. It hands the text on unchanged:
/// [`BoundFlag::value`] reads it as it reads every flag.
fn enum_value_parser(
    values: EnumValues,
    repeated: bool,
) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |raw: &str| {
        if repeated {
            for piece in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                values
                    .parse(piece)
                    .map_err(|rule| format!("`{piece}`: {rule}"))?;
            }
        } else {
            values.parse(raw)?;
        }
        Ok(raw.to_owned())
    }
}

/// One value of a field of `kind` (enums are read by [`BoundFlag::parse_one`], which
/// knows the values the flag accepts); the error is the rule it breaks.
fn parse_scalar(kind: &Kind, raw: &str) -> Result<Value, String> {
    let whole = |_| "expected a whole number".to_owned();
    let natural = |_| "expected a whole number, 0 or more".to_owned();
    Ok(match kind {
        Kind::String => Value::String(raw.to_owned()),
        Kind::Bytes => Value::Bytes(raw.as_bytes().to_vec().into()),
        Kind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err("expected true or false".to_owned()),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(raw.trim().parse().map_err(whole)?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(raw.trim().parse().map_err(whole)?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(raw.trim().parse().map_err(natural)?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(raw.trim().parse().map_err(natural)?),
        Kind::Float => Value::F32(
            raw.trim()
                .parse()
                .map_err(|_| "expected a number".to_owned())?,
        ),
        Kind::Double => Value::F64(
            raw.trim()
                .parse()
                .map_err(|_| "expected a number".to_owned())?,
        ),
        Kind::Enum(desc) => Value::EnumNumber(EnumValues::all(desc.clone()).parse(raw)?),
        Kind::Message(desc) => Value::Message(text::parse_message(desc, raw)?),
    })
}

/// A JSON array of messages of type `desc`.
fn parse_json_list(desc: &MessageDescriptor, raw: &str) -> Result<Vec<Value>, String> {
    let items: Vec<serde_json::Value> = serde_json::from_str(raw)
        .map_err(|err| format!("expected a JSON array of `{}`: {err}", desc.full_name()))?;
    items
        .into_iter()
        .map(|item| {
            DynamicMessage::deserialize(desc.clone(), item)
                .map(Value::Message)
                .map_err(|err| format!("expected JSON of `{}`: {err}", desc.full_name()))
        })
        .collect()
}

/// Fills a request of type `input` from the flags given on the command line. The error
/// is a usage message naming the flag and the rule.
pub(crate) fn build(
    input: &MessageDescriptor,
    flags: &[BoundFlag],
    matches: &ArgMatches,
) -> Result<DynamicMessage, String> {
    let mut request = DynamicMessage::new(input.clone());
    // Setting one member of a oneof silently clears the others: remember who set which,
    // so that mixing them is an error instead.
    let mut oneofs: HashMap<String, (u32, &'static str)> = HashMap::new();
    for bound in flags {
        let Some(value) = bound.value(matches)? else {
            continue;
        };
        for field in bound.parents.iter().chain([&bound.field]) {
            let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) else {
                continue;
            };
            let (number, first) = *oneofs
                .entry(oneof.full_name().to_owned())
                .or_insert((field.number(), bound.flag.name));
            if number != field.number() {
                return Err(format!(
                    "`--{}` cannot be combined with `--{first}`: they set different members of the oneof `{}`",
                    bound.flag.name,
                    oneof.name()
                ));
            }
        }
        set_path(&mut request, &bound.parents, &bound.field, value)
            .map_err(|err| format!("`--{}`: {err}", bound.flag.name))?;
    }
    Ok(request)
}

/// Sets `field` in the message reached through `parents` (created on the way).
fn set_path(
    message: &mut DynamicMessage,
    parents: &[FieldDescriptor],
    field: &FieldDescriptor,
    value: Value,
) -> Result<(), String> {
    match parents {
        [] => message
            .try_set_field(field, value)
            .map_err(|err| format!("cannot set `{}`: {err}", field.full_name())),
        [first, rest @ ..] => {
            let inner = message
                .get_field_mut(first)
                .as_message_mut()
                .ok_or_else(|| format!("`{}` is not a message", first.full_name()))?;
            set_path(inner, rest, field, value)
        }
    }
}
