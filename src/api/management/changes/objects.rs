//! Objects and containers (`ObjectService`).

use std::collections::BTreeSet;

use tonic::Status;

use super::{IdSource, chosen_id, if_masked, mask_paths};
use crate::{
    api::{
        bounds,
        convert::id,
        management::{objects::ObjectKey, records},
        pb,
        status::required,
    },
    engine::{Actor, Dependencies, Mutation, ObjectId, ObjectRecord, ServiceId, TenantId},
};

const OBJECT_MASK: &[&str] = &["name", "related", "description"];

/// A change to one object (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct ObjectChange {
    pub(crate) key: ObjectKey,
    pub(crate) mutation: Mutation,
}

/// A creation by `actor`, who becomes the object's creator (the request's `creator` is
/// ignored: it is the server's record of who called). A partner user is no user of the
/// tenant: its objects have no creator (the audit trail names it and its partner).
pub(crate) fn create_object(
    request: &pb::CreateObjectRequest,
    actor: &Actor,
    ids: &dyn IdSource,
) -> Result<ObjectChange, Status> {
    let message = request.object.as_ref().ok_or_else(|| required("object"))?;
    let tenant = id("object.tenant", &message.tenant, TenantId::parse)?;
    let service = id("object.service", &message.service, ServiceId::parse)?;
    if message.r#type.is_empty() {
        return Err(required("object.type"));
    }
    bounds::at_most(
        "object.type",
        &message.r#type,
        bounds::MAX_OBJECT_TYPE_BYTES,
    )?;
    bounds::required_text("object.name", &message.name)?;
    bounds::text("object.description", &message.description)?;
    let key = ObjectKey {
        tenant,
        service,
        object: chosen_id(ids, "object.id", &message.id, "object", ObjectId::parse)?,
    };
    let mutation = Mutation::CreateObject {
        tenant: key.tenant.clone(),
        service: key.service.clone(),
        object: key.object.clone(),
        object_type: message.r#type.clone(),
        name: message.name.clone(),
        parent: records::optional_object("object.parent", &message.parent)?,
        related: records::object_ids("object.related", &message.related)?,
        description: message.description.clone(),
        creator: actor.partner.is_none().then(|| actor.user.clone()),
    };
    Ok(ObjectChange { key, mutation })
}

/// An update of an object's name, related objects and description: the fields the mask
/// names (`Some`) are set, merged into the object as it is when the writer applies it.
#[derive(Debug)]
pub(crate) struct ObjectUpdate {
    pub(crate) key: ObjectKey,
    name: Option<String>,
    related: Option<BTreeSet<ObjectId>>,
    description: Option<String>,
}

impl ObjectUpdate {
    pub(crate) fn merge(&self, current: ObjectRecord) -> Mutation {
        Mutation::UpdateObject {
            tenant: self.key.tenant.clone(),
            service: self.key.service.clone(),
            object: self.key.object.clone(),
            name: self.name.clone().unwrap_or(current.name),
            related: self
                .related
                .clone()
                .unwrap_or_else(|| current.related.into_iter().collect()),
            description: self.description.clone().unwrap_or(current.description),
        }
    }
}

pub(crate) fn update_object(request: &pb::UpdateObjectRequest) -> Result<ObjectUpdate, Status> {
    let message = request.object.as_ref().ok_or_else(|| required("object"))?;
    let key = ObjectKey::parse("object.", &message.tenant, &message.service, &message.id)?;
    let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, OBJECT_MASK)?;
    bounds::text("object.name", &message.name)?;
    bounds::text("object.description", &message.description)?;
    if paths.contains(&"name") && message.name.is_empty() {
        return Err(required("object.name"));
    }
    // Checked whether or not the mask names it: a bad id is the client's mistake either way.
    let related = records::object_ids("object.related", &message.related)?;
    Ok(ObjectUpdate {
        key,
        name: if_masked(&paths, "name", || message.name.clone()),
        related: if_masked(&paths, "related", || related),
        description: if_masked(&paths, "description", || message.description.clone()),
    })
}

pub(crate) fn move_object(request: &pb::MoveObjectRequest) -> Result<ObjectChange, Status> {
    let key = ObjectKey::parse("", &request.tenant, &request.service, &request.object)?;
    let mutation = Mutation::MoveObject {
        tenant: key.tenant.clone(),
        service: key.service.clone(),
        object: key.object.clone(),
        new_parent: records::optional_object("new_parent", &request.new_parent)?,
        dependents: dependents(request.cascade),
    };
    Ok(ObjectChange { key, mutation })
}

pub(crate) fn delete_object(request: &pb::ObjectRefRequest) -> Result<ObjectChange, Status> {
    let key = ObjectKey::parse("", &request.tenant, &request.service, &request.object)?;
    let mutation = Mutation::DeleteObject {
        tenant: key.tenant.clone(),
        service: key.service.clone(),
        object: key.object.clone(),
        dependents: dependents(request.cascade),
    };
    Ok(ObjectChange { key, mutation })
}

/// How a move or deletion treats the objects depending on the object: refused where
/// they would be reached without it, unless the client asks to cascade.
fn dependents(cascade: bool) -> Dependencies {
    if cascade {
        Dependencies::Cascade
    } else {
        Dependencies::Enforced
    }
}
