//! Knowledge-base routes (SPEC §5).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use switchboard::services::knowledge::{self, MAX_UPLOAD_BYTES, Upload};
use switchboard::services::views::{
    AssignmentView, ChunkView, DeletedView, IngestTextInput, IngestUrlInput, KnowledgeDocumentView,
    KnowledgeQueryInput, QueryHit,
};
use switchboard::{App, Error};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::openapi::{Created, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::{
    ApiError, ApiResult, Auth, Json, Params, all, created, list, list_slice, ok, protected,
};
use crate::http::{Multipart, Path};

type S = State<Arc<App>>;

/// The knowledge group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    // Room for the multipart framing around a 25 MB file; the file itself is
    // checked against the limit (413).
    let (schemas, paths, upload_route) = routes!(upload);
    let upload_route = upload_route.layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024));
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_documents))
            .routes((schemas, paths, upload_route))
            .routes(routes!(ingest_url))
            .routes(routes!(ingest_text))
            .routes(routes!(query))
            .routes(routes!(get_document, delete_document))
            .routes(routes!(reindex))
            .routes(routes!(chunks))
            .routes(routes!(assign, unassign))
            .routes(routes!(agent_documents)),
    )
}

/// The multipart form of an upload.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The document (PDF, DOCX, HTML, Markdown, CSV or text; at most 25 MB).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
    /// A display name (default: the file name).
    name: Option<String>,
}

/// List the knowledge documents.
#[utoipa::path(
    get,
    path = "/knowledge",
    tag = "knowledge",
    params(PageParams, ModeParam),
    responses(List<KnowledgeDocumentView>)
)]
async fn list_documents(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    Ok(list(knowledge::list(&app, &caller, &params.page()?).await?))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge(format!(
            "the file is over the {} MB limit",
            MAX_UPLOAD_BYTES / (1024 * 1024)
        ))
        .into()
    } else {
        Error::BadRequest(format!("malformed multipart body: {e}")).into()
    }
}

/// Upload a document to ingest (multipart, field `file`).
#[utoipa::path(post, path = "/knowledge/upload", tag = "knowledge",
    params(ModeParam, IdempotencyKey),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(Created<KnowledgeDocumentView>))]
async fn upload(State(app): S, Auth(caller): Auth, Multipart(mut form): Multipart) -> ApiResult {
    let mut file = None;
    let mut name = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                let filename = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((bytes, filename, content_type));
            }
            Some("name") => name = Some(field.text().await.map_err(multipart_error)?),
            _ => {}
        }
    }
    let Some((bytes, filename, content_type)) = file else {
        return Err(Error::field("file", "is required (a multipart part named `file`)").into());
    };
    let upload = Upload {
        bytes,
        filename,
        content_type,
        name,
    };
    Ok(created(knowledge::upload(&app, &caller, upload).await?))
}

/// Ingest a web page.
#[utoipa::path(post, path = "/knowledge/ingest-url", tag = "knowledge",
    params(ModeParam, IdempotencyKey),
    request_body = IngestUrlInput, responses(Created<KnowledgeDocumentView>))]
async fn ingest_url(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<IngestUrlInput>,
) -> ApiResult {
    Ok(created(knowledge::ingest_url(&app, &caller, body).await?))
}

/// Ingest text.
#[utoipa::path(post, path = "/knowledge/ingest-text", tag = "knowledge",
    params(ModeParam, IdempotencyKey),
    request_body = IngestTextInput, responses(Created<KnowledgeDocumentView>))]
async fn ingest_text(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<IngestTextInput>,
) -> ApiResult {
    Ok(created(knowledge::ingest_text(&app, &caller, body).await?))
}

/// Search the knowledge base.
#[utoipa::path(post, path = "/knowledge/query", tag = "knowledge",
    params(ModeParam, IdempotencyKey),
    request_body = KnowledgeQueryInput, responses(List<QueryHit>))]
async fn query(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<KnowledgeQueryInput>,
) -> ApiResult {
    Ok(all(knowledge::query(&app, &caller, body).await?))
}

/// Get a document.
#[utoipa::path(get, path = "/knowledge/{id}", tag = "knowledge",
    params(("id" = String, Path), ModeParam), responses(Item<KnowledgeDocumentView>))]
async fn get_document(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(knowledge::get(&app, &caller, &id).await?))
}

/// Delete a document and its chunks.
#[utoipa::path(delete, path = "/knowledge/{id}", tag = "knowledge",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn delete_document(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(knowledge::delete(&app, &caller, &id).await?))
}

/// Ingest a document again.
#[utoipa::path(post, path = "/knowledge/{id}/reindex", tag = "knowledge",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<KnowledgeDocumentView>))]
async fn reindex(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(knowledge::reindex(&app, &caller, &id).await?))
}

/// A document's chunks.
#[utoipa::path(get, path = "/knowledge/{id}/chunks", tag = "knowledge",
    params(("id" = String, Path), ModeParam, PageParams), responses(List<ChunkView>))]
async fn chunks(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult {
    Ok(list(
        knowledge::chunks(&app, &caller, &id, &params.page()?).await?,
    ))
}

/// Give an agent a document.
#[utoipa::path(post, path = "/knowledge/agent/{agent_id}/assign/{doc_id}", tag = "knowledge",
    params(("agent_id" = String, Path), ("doc_id" = String, Path), ModeParam, IdempotencyKey),
    responses(Item<AssignmentView>))]
async fn assign(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, doc_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(knowledge::assign(
        &app, &caller, &agent_id, &doc_id, true,
    )
    .await?))
}

/// Take a document from an agent.
#[utoipa::path(delete, path = "/knowledge/agent/{agent_id}/assign/{doc_id}", tag = "knowledge",
    params(("agent_id" = String, Path), ("doc_id" = String, Path), ModeParam),
    responses(Item<AssignmentView>))]
async fn unassign(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, doc_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(knowledge::assign(
        &app, &caller, &agent_id, &doc_id, false,
    )
    .await?))
}

/// The documents assigned to an agent.
#[utoipa::path(get, path = "/knowledge/agent/{agent_id}", tag = "knowledge",
    params(("agent_id" = String, Path), ModeParam, PageParams), responses(List<KnowledgeDocumentView>))]
async fn agent_documents(
    State(app): S,
    Auth(caller): Auth,
    Path(agent_id): Path<String>,
    params: Params,
) -> ApiResult {
    let page = params.page()?;
    list_slice(
        knowledge::agent_documents(&app, &caller, &agent_id).await?,
        &page,
    )
}
