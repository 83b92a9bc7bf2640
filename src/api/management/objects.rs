//! `ObjectService`: objects and containers of a tenant's service.

use tonic::{Request, Response, Status};

use super::{ManagementApi, chosen_id, etag_matches, list_page, mask_paths, pb, records, reply};
use crate::{
    api::{
        bounds,
        convert::id,
        status::{self, required},
    },
    engine::{Mutation, ObjectId, ServiceId, Snapshot, TenantId},
};

const OBJECT_MASK: &[&str] = &["name", "related"];

/// Tenant, service and object of one object.
#[derive(Debug, Clone)]
struct ObjectKey {
    tenant: TenantId,
    service: ServiceId,
    object: ObjectId,
}

impl ObjectKey {
    fn parse(prefix: &str, tenant: &str, service: &str, object: &str) -> Result<Self, Status> {
        Ok(Self {
            tenant: id(&format!("{prefix}tenant"), tenant, TenantId::parse)?,
            service: id(&format!("{prefix}service"), service, ServiceId::parse)?,
            object: id(
                &format!("{prefix}{}", object_field(prefix)),
                object,
                ObjectId::parse,
            )?,
        })
    }

    /// The object as a resource with its etag, if it exists in `snapshot`.
    fn read(&self, snapshot: &Snapshot) -> Option<(crate::engine::ObjectRecord, String)> {
        let record = snapshot
            .object_record(&self.tenant, &self.service, &self.object)
            .ok()?;
        let etag = records::object(self.tenant.as_str(), self.service.as_str(), &record).etag;
        Some((record, etag))
    }

    fn etag_now(&self) -> impl FnOnce(&Snapshot) -> Option<String> + Send + 'static {
        let key = self.clone();
        move |s| key.read(s).map(|(_, etag)| etag)
    }
}

/// The object id field: `id` inside an `object` message, `object` in a reference.
fn object_field(prefix: &str) -> &'static str {
    if prefix.is_empty() { "object" } else { "id" }
}

impl ManagementApi {
    fn object_reply(
        &self,
        key: &ObjectKey,
        revision: u64,
    ) -> Result<Response<pb::ObjectResponse>, Status> {
        let record =
            self.after_write(|s| s.object_record(&key.tenant, &key.service, &key.object))?;
        reply(pb::ObjectResponse {
            object: Some(records::object(
                key.tenant.as_str(),
                key.service.as_str(),
                &record,
            )),
            revision,
        })
    }
}

#[tonic::async_trait]
impl pb::object_service_server::ObjectService for ManagementApi {
    async fn create_object(
        &self,
        request: Request<pb::CreateObjectRequest>,
    ) -> Result<Response<pb::ObjectResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
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
            let mutation = Mutation::CreateObject {
                tenant: tenant.clone(),
                service: service.clone(),
                object: chosen_id(self, "object.id", &message.id, "object", ObjectId::parse)?,
                object_type: message.r#type.clone(),
                name: message.name.clone(),
                parent: records::optional_object("object.parent", &message.parent)?,
                related: records::object_ids("object.related", &message.related)?,
            };
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            let Mutation::CreateObject { object, .. } = written.mutation(&mutation) else {
                return Err(status::internal("retried change is not an object creation"));
            };
            let key = ObjectKey {
                tenant,
                service,
                object: object.clone(),
            };
            self.object_reply(&key, written.revision.get())
        })
        .await
    }

    async fn get_object(
        &self,
        request: Request<pb::ObjectRefRequest>,
    ) -> Result<Response<pb::ObjectResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let key = ObjectKey::parse("", &request.tenant, &request.service, &request.object)?;
            let snapshot = self.read_as(&key.tenant, &actor)?;
            let record = snapshot
                .object_record(&key.tenant, &key.service, &key.object)
                .map_err(|err| status::not_found(&err))?;
            reply(pb::ObjectResponse {
                object: Some(records::object(
                    key.tenant.as_str(),
                    key.service.as_str(),
                    &record,
                )),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_objects(
        &self,
        request: Request<pb::ListObjectsRequest>,
    ) -> Result<Response<pb::ListObjectsResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let service = id("service", &request.service, ServiceId::parse)?;
            let parent = records::optional_object("parent", &request.parent)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let objects = snapshot
                .object_records(&tenant, &service, parent.as_ref())
                .map_err(|err| status::not_found(&err))?;
            let (page, next_page_token) = list_page(
                objects,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |o| o.id.to_string(),
                |o| vec![o.name.as_str()],
            )?;
            reply(pb::ListObjectsResponse {
                objects: page
                    .iter()
                    .map(|o| records::object(tenant.as_str(), service.as_str(), o))
                    .collect(),
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn update_object(
        &self,
        request: Request<pb::UpdateObjectRequest>,
    ) -> Result<Response<pb::ObjectResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let message = request.object.as_ref().ok_or_else(|| required("object"))?;
            let key = ObjectKey::parse("object.", &message.tenant, &message.service, &message.id)?;
            let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, OBJECT_MASK)?;
            bounds::text("object.name", &message.name)?;
            if paths.contains(&"name") && message.name.is_empty() {
                return Err(required("object.name"));
            }
            let related = records::object_ids("object.related", &message.related)?;
            let (reader, merged, message) = (key.clone(), key.clone(), message.clone());
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| reader.read(s),
                    move |current| {
                        let mut name = current.name;
                        let mut merged_related: std::collections::BTreeSet<ObjectId> =
                            current.related.into_iter().collect();
                        for path in &paths {
                            match *path {
                                "name" => name.clone_from(&message.name),
                                _ => merged_related.clone_from(&related),
                            }
                        }
                        Mutation::UpdateObject {
                            tenant: merged.tenant.clone(),
                            service: merged.service.clone(),
                            object: merged.object.clone(),
                            name,
                            related: merged_related,
                        }
                    },
                )
                .await?;
            self.object_reply(&key, revision.get())
        })
        .await
    }

    async fn move_object(
        &self,
        request: Request<pb::MoveObjectRequest>,
    ) -> Result<Response<pb::ObjectResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let key = ObjectKey::parse("", &request.tenant, &request.service, &request.object)?;
            let mutation = Mutation::MoveObject {
                tenant: key.tenant.clone(),
                service: key.service.clone(),
                object: key.object.clone(),
                new_parent: records::optional_object("new_parent", &request.new_parent)?,
            };
            let precondition = etag_matches(&request.etag, key.etag_now())?;
            let written = self
                .write(&caller, Some(&actor), mutation, "", precondition)
                .await?;
            self.object_reply(&key, written.revision.get())
        })
        .await
    }

    async fn delete_object(
        &self,
        request: Request<pb::ObjectRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let key = ObjectKey::parse("", &request.tenant, &request.service, &request.object)?;
            let precondition = etag_matches(&request.etag, key.etag_now())?;
            let mutation = Mutation::DeleteObject {
                tenant: key.tenant,
                service: key.service,
                object: key.object,
            };
            let written = self
                .write(&caller, Some(&actor), mutation, "", precondition)
                .await?;
            reply(pb::DeleteResponse {
                revision: written.revision.get(),
            })
        })
        .await
    }
}
