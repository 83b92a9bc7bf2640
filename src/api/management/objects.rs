//! `ObjectService`: objects and containers of a tenant's service.

use tonic::{Request, Response, Status};

use super::{
    ManagementApi, changes, etag_matches, list_page, pb, records, reply, selection::ObjectSelection,
};
use crate::{
    api::{bounds, convert::id, status},
    engine::{Mutation, ObjectId, ServiceId, Snapshot, TenantId},
};

/// Tenant, service and object of one object.
#[derive(Debug, Clone)]
pub(super) struct ObjectKey {
    pub(super) tenant: TenantId,
    pub(super) service: ServiceId,
    pub(super) object: ObjectId,
}

impl ObjectKey {
    pub(super) fn parse(
        prefix: &str,
        tenant: &str,
        service: &str,
        object: &str,
    ) -> Result<Self, Status> {
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
        let etag = records::etag(record.changed_at);
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
            let change = changes::create_object(&request, &actor, self)?;
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    change.mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            let Mutation::CreateObject { object, .. } = written.mutation(&change.mutation) else {
                return Err(status::internal("retried change is not an object creation"));
            };
            let key = ObjectKey {
                object: object.clone(),
                ..change.key
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
            let wanted = ObjectSelection::of(&request)?;
            let mut objects = snapshot
                .object_records(&tenant, &service, parent.as_ref())
                .map_err(|err| status::not_found(&err))?;
            objects.retain(|o| wanted.selects(o));
            let (page, next_page_token) = list_page(
                objects,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |o| o.id.to_string(),
                |o| vec![o.name.as_str(), o.description.as_str()],
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
            let update = changes::update_object(&request)?;
            let (key, reader) = (update.key.clone(), update.key.clone());
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| reader.read(s),
                    move |current| update.merge(current),
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
            let change = changes::move_object(&request)?;
            let precondition = etag_matches(&request.etag, change.key.etag_now())?;
            let written = self
                .write(&caller, Some(&actor), change.mutation, "", precondition)
                .await?;
            self.object_reply(&change.key, written.revision.get())
        })
        .await
    }

    async fn delete_object(
        &self,
        request: Request<pb::ObjectRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::delete_object(&request)?;
            let precondition = etag_matches(&request.etag, change.key.etag_now())?;
            self.delete(&caller, &actor, change.mutation, precondition)
                .await
        })
        .await
    }
}
