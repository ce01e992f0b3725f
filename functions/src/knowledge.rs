//! Knowledge-base routes (SPEC §5).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use switchboard::services::knowledge::{self, MAX_UPLOAD_BYTES, Upload};
use switchboard::{App, Error};

use crate::http::{
    ApiError, ApiResult, Auth, JsonObject, Params, all, created, list, list_slice, ok, protected,
};
use crate::http::{Multipart, Path};

type S = State<Arc<App>>;

/// The knowledge group's routes.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    protected(
        app,
        Router::new()
            .route("/knowledge", get(list_documents))
            .route(
                "/knowledge/upload",
                // Room for the multipart framing around a 25 MB file; the
                // file itself is checked against the limit (413).
                post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
            )
            .route("/knowledge/ingest-url", post(ingest_url))
            .route("/knowledge/ingest-text", post(ingest_text))
            .route("/knowledge/query", post(query))
            .route("/knowledge/{id}", get(get_document).delete(delete_document))
            .route("/knowledge/{id}/reindex", post(reindex))
            .route("/knowledge/{id}/chunks", get(chunks))
            .route(
                "/knowledge/agent/{agent_id}/assign/{doc_id}",
                post(assign).delete(unassign),
            )
            .route("/knowledge/agent/{agent_id}", get(agent_documents)),
    )
}

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

async fn ingest_url(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(created(knowledge::ingest_url(&app, &caller, &body).await?))
}

async fn ingest_text(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(created(knowledge::ingest_text(&app, &caller, &body).await?))
}

async fn query(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(all(knowledge::query(&app, &caller, &body).await?))
}

async fn get_document(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(knowledge::get(&app, &caller, &id).await?))
}

async fn delete_document(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(knowledge::delete(&app, &caller, &id).await?))
}

async fn reindex(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(knowledge::reindex(&app, &caller, &id).await?))
}

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
