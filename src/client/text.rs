//! One-word text forms: how flags spell enum values and the few message types an admin
//! writes by hand (`user:alice`, an RFC 3339 time, `name,description`), and how table
//! cells print them back — the same spelling both ways, so output can be pasted as input.

use std::{fmt::Write as _, str::FromStr as _};

use prost_reflect::{
    DynamicMessage, EnumDescriptor, EnumValueDescriptor, MessageDescriptor, ReflectMessage as _,
};

use crate::api::pb;

/// The prefix protobuf style puts on every value of an enum: `UserKind` → `USER_KIND_`.
fn enum_prefix(enum_desc: &EnumDescriptor) -> String {
    let mut prefix = String::new();
    for (i, ch) in enum_desc.name().chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            prefix.push('_');
        }
        prefix.push(ch.to_ascii_uppercase());
    }
    prefix.push('_');
    prefix
}

/// An enum value without its prefix: `USER_KIND_SUPPORT` → `SUPPORT` (the number when the
/// descriptor does not know it, e.g. from a newer server).
pub(crate) fn enum_name(enum_desc: &EnumDescriptor, number: i32) -> String {
    let Some(value) = enum_desc.get_value(number) else {
        return number.to_string();
    };
    let prefix = enum_prefix(enum_desc);
    value
        .name()
        .strip_prefix(prefix.as_str())
        .unwrap_or(value.name())
        .to_owned()
}

/// An enum value the server always refuses through one flag, and why.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused {
    /// The value's full proto name (`ROLE_KIND_OWNER`).
    pub(crate) value: &'static str,
    /// Why, and what to do instead, in the words of the error that names it.
    pub(crate) why: &'static str,
}

/// The values an enum flag accepts: every value of the enum but `UNSPECIFIED` (leaving the
/// flag out says that) and those the server always refuses through this flag (a table
/// row's `refused`), so that `--help` never offers what the server would turn down.
#[derive(Debug, Clone)]
pub(crate) struct EnumValues {
    desc: EnumDescriptor,
    /// Each a value of `desc` (checked by [`EnumValues::refusing`]).
    refused: &'static [Refused],
}

impl EnumValues {
    /// Every value of the enum but `UNSPECIFIED`.
    pub(crate) fn all(desc: EnumDescriptor) -> Self {
        Self { desc, refused: &[] }
    }

    /// Every value but `UNSPECIFIED` and `refused`; an error names a refused value the
    /// enum does not have (the table and the protos disagree).
    pub(crate) fn refusing(
        desc: EnumDescriptor,
        refused: &'static [Refused],
    ) -> Result<Self, String> {
        if let Some(unknown) = refused
            .iter()
            .find(|refused| desc.get_value_by_name(refused.value).is_none())
        {
            return Err(format!(
                "`{}` has no value `{}`",
                desc.full_name(),
                unknown.value
            ));
        }
        Ok(Self { desc, refused })
    }

    fn refusal(&self, value: &EnumValueDescriptor) -> Option<&Refused> {
        self.refused.iter().find(|r| r.value == value.name())
    }

    fn accepts(&self, value: &EnumValueDescriptor) -> bool {
        value.number() != 0 && self.refusal(value).is_none()
    }

    /// Reads a value: the short name in any case, `-` or `_` between words
    /// (`customized-administrator`), or the full name (`ROLE_KIND_CUSTOMIZED_ADMINISTRATOR`).
    /// A refused value's error says why before it lists the choices.
    pub(crate) fn parse(&self, raw: &str) -> Result<i32, String> {
        let wanted = raw.trim().to_ascii_uppercase().replace('-', "_");
        let prefix = enum_prefix(&self.desc);
        let spelled = self.desc.values().find(|v| {
            v.name() == wanted || v.name().strip_prefix(prefix.as_str()) == Some(&wanted)
        });
        let expected = || format!("expected one of {}", self.choices());
        let value = spelled.ok_or_else(expected)?;
        if let Some(refused) = self.refusal(&value) {
            return Err(format!("{}; {}", refused.why, expected()));
        }
        // `UNSPECIFIED` is no choice: leaving the flag out says it.
        if value.number() == 0 {
            return Err(expected());
        }
        Ok(value.number())
    }

    /// The accepted values in the short kebab-case spelling, comma-separated.
    pub(crate) fn choices(&self) -> String {
        self.desc
            .values()
            .filter(|v| self.accepts(v))
            .map(|v| {
                enum_name(&self.desc, v.number())
                    .to_ascii_lowercase()
                    .replace('_', "-")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The message types with a one-word form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Timestamp,
    FieldMask,
    Subject,
    ObjectType,
    PermissionOnObject,
}

impl Form {
    fn of(desc: &MessageDescriptor) -> Option<Self> {
        Some(match desc.full_name() {
            "google.protobuf.Timestamp" => Self::Timestamp,
            "google.protobuf.FieldMask" => Self::FieldMask,
            "authz.v1.SubjectRef" => Self::Subject,
            "authz.v1.ObjectType" => Self::ObjectType,
            "authz.v1.PermissionOnObject" => Self::PermissionOnObject,
            _ => return None,
        })
    }
}

/// Whether a message type has a one-word form (else flags take JSON and tables flatten it).
pub(crate) fn has_form(desc: &MessageDescriptor) -> bool {
    Form::of(desc).is_some()
}

/// The placeholder `--help` shows for a message flag.
pub(crate) fn value_name(desc: &MessageDescriptor) -> &'static str {
    match Form::of(desc) {
        Some(Form::Timestamp) => "RFC3339",
        Some(Form::FieldMask) => "FIELD,…",
        Some(Form::Subject) => "user:ID|group:ID",
        Some(Form::ObjectType) => "NAME[:top][:TYPE+…]",
        Some(Form::PermissionOnObject) => "PERMISSION[@OBJECT]",
        None => "JSON",
    }
}

/// Reads a message from its one-word form, or from proto JSON when the value starts with
/// `{` (which is the only way for types without a one-word form).
pub(crate) fn parse_message(desc: &MessageDescriptor, raw: &str) -> Result<DynamicMessage, String> {
    if raw.trim_start().starts_with('{') {
        return parse_json(desc, raw);
    }
    let mut message = DynamicMessage::new(desc.clone());
    let transcoded = match Form::of(desc) {
        Some(Form::Timestamp) => {
            let time = prost_types::Timestamp::from_str(raw.trim())
                .map_err(|_| "expected an RFC 3339 time, e.g. 2030-01-01T00:00:00Z".to_owned())?;
            message.transcode_from(&time)
        }
        Some(Form::FieldMask) => message.transcode_from(&prost_types::FieldMask {
            paths: raw
                .split(',')
                .map(|p| p.trim().replace('-', "_"))
                .filter(|p| !p.is_empty())
                .collect(),
        }),
        Some(Form::Subject) => message.transcode_from(&parse_subject(raw)?),
        Some(Form::ObjectType) => message.transcode_from(&parse_object_type(raw)?),
        Some(Form::PermissionOnObject) => {
            let (permission, object) = raw.trim().split_once('@').unwrap_or((raw.trim(), ""));
            if permission.is_empty() {
                return Err("expected PERMISSION[@OBJECT], e.g. restore.run@site-1".to_owned());
            }
            message.transcode_from(&pb::PermissionOnObject {
                permission: permission.to_owned(),
                object: object.to_owned(),
            })
        }
        None => {
            return Err(format!(
                "expected a JSON object of `{}` (proto JSON field names)",
                desc.full_name()
            ));
        }
    };
    // The typed and the dynamic descriptors come from the same .proto files.
    transcoded
        .map_err(|err| format!("internal: cannot convert to `{}`: {err}", desc.full_name()))?;
    Ok(message)
}

/// Reads proto JSON into a message of type `desc`.
pub(crate) fn parse_json(desc: &MessageDescriptor, raw: &str) -> Result<DynamicMessage, String> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let message = DynamicMessage::deserialize(desc.clone(), &mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|err| format!("expected JSON of `{}`: {err}", desc.full_name()))?;
    Ok(message)
}

fn parse_subject(raw: &str) -> Result<pb::SubjectRef, String> {
    let rule = || "expected user:ID or group:ID".to_owned();
    let (kind, id) = raw.trim().split_once(':').ok_or_else(rule)?;
    let kind = match kind.to_ascii_lowercase().as_str() {
        "user" => pb::SubjectKind::User,
        "group" => pb::SubjectKind::Group,
        _ => return Err(rule()),
    };
    if id.is_empty() {
        return Err(rule());
    }
    Ok(pb::SubjectRef {
        kind: kind.into(),
        id: id.to_owned(),
    })
}

/// `NAME[:top][:TYPE+TYPE…]`: `site:top:mailbox+folder`, `mailbox::folder`, `folder`.
fn parse_object_type(raw: &str) -> Result<pb::ObjectType, String> {
    let rule =
        || "expected NAME[:top][:TYPE+TYPE…], e.g. site:top:mailbox+folder or mailbox".to_owned();
    let mut parts = raw.trim().split(':');
    let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(rule)?;
    let top_level = match parts.next() {
        None | Some("") => false,
        Some(top) if top.eq_ignore_ascii_case("top") => true,
        Some(_) => return Err(rule()),
    };
    let may_contain = parts
        .next()
        .map(|types| {
            types
                .split('+')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if parts.next().is_some() {
        return Err(rule());
    }
    Ok(pb::ObjectType {
        name: name.to_owned(),
        top_level,
        may_contain,
    })
}

/// The one-word form of a message, or `None` for types without one.
pub(crate) fn format_message(message: &DynamicMessage) -> Option<String> {
    let form = Form::of(&message.descriptor())?;
    // A failed transcode means the descriptor and the generated type disagree: print
    // nothing rather than a wrong value (the JSON output still has it).
    let text = match form {
        Form::Timestamp => message
            .transcode_to::<prost_types::Timestamp>()
            .ok()?
            .to_string(),
        Form::FieldMask => message
            .transcode_to::<prost_types::FieldMask>()
            .ok()?
            .paths
            .join(","),
        Form::Subject => {
            let subject = message.transcode_to::<pb::SubjectRef>().ok()?;
            let kind = match subject.kind() {
                pb::SubjectKind::User => "user",
                pb::SubjectKind::Group => "group",
                pb::SubjectKind::Unspecified => "unspecified",
            };
            format!("{kind}:{}", subject.id)
        }
        Form::ObjectType => {
            let object_type = message.transcode_to::<pb::ObjectType>().ok()?;
            let mut text = object_type.name;
            let top = if object_type.top_level { "top" } else { "" };
            if !object_type.may_contain.is_empty() {
                let _ = write!(text, ":{top}:{}", object_type.may_contain.join("+"));
            } else if object_type.top_level {
                let _ = write!(text, ":{top}");
            }
            text
        }
        Form::PermissionOnObject => {
            let pair = message.transcode_to::<pb::PermissionOnObject>().ok()?;
            if pair.object.is_empty() {
                pair.permission
            } else {
                format!("{}@{}", pair.permission, pair.object)
            }
        }
    };
    Some(text)
}
