//! One way to write a resource group's CRUD routes: [`resource_routes!`]
//! declares the list, create, get, update and delete handlers of a resource,
//! each with its `#[utoipa::path]`, and the router that mounts them. The
//! handlers call the service module's `list`/`create`/`get`/`update`/`delete`,
//! which every tenant resource has with the same signatures; the list's
//! filters are the only part each group writes itself.

/// Declares the CRUD handlers of a resource group and `resource_router()`,
/// an `OpenApiRouter` with them (for `protected`, with the group's other
/// routes merged in).
///
/// ```ignore
/// resource_routes! {
///     service: agents, tag: "agents",
///     collection: "/agents", item: "/agents/{id}",
///     view: AgentView, input: AgentCreate, patch: AgentPatch, body: typed,
///     list: list_agents(PageParams, EnabledFilter, ModeParam) -> AgentView
///         "List the agents."
///         |app, caller, params, page| agents::list(&app, &caller, params.bool("enabled")?, &page),
///     create: create_agent "Create an agent.",
///     get: get_agent "Get an agent.",
///     update: update_agent(patch, put) "Update an agent: the fields sent are changed, the others kept.",
///     delete: delete_agent "Delete an agent.",
/// }
/// ```
///
/// Types are named by identifier (imported where the macro is used): the
/// OpenAPI generator reads them as written. `list`'s closure-like tail is
/// the handler's body, given the query parameters and the page they ask for;
/// it returns the service's future of a page (`?` works in it). `body:
/// typed` reads the create and update bodies as `input` and `patch` (see
/// [`body_type!`]).
macro_rules! resource_routes {
    (
        service: $svc:ident, tag: $tag:tt,
        collection: $collection:tt, item: $item:tt,
        view: $view:ident, input: $input:ident, patch: $patch:ident, body: $body:ident,
        list: $list:ident($($list_params:ident),*) -> $list_view:ident $list_doc:tt
            |$app:ident, $caller:ident, $params:ident, $page:ident| $list_body:expr,
        create: $create:ident $create_doc:tt,
        get: $get:ident $get_doc:tt,
        update: $update:ident($($update_method:ident),+) $update_doc:tt,
        delete: $delete:ident $delete_doc:tt $(,)?
    ) => {
        /// The group's CRUD routes.
        fn resource_router() -> ::utoipa_axum::router::OpenApiRouter<::std::sync::Arc<::switchboard::App>> {
            ::utoipa_axum::router::OpenApiRouter::new()
                .routes(::utoipa_axum::routes!($list, $create))
                .routes(::utoipa_axum::routes!($get, $update, $delete))
        }

        #[doc = $list_doc]
        #[utoipa::path(get, path = $collection, tag = $tag,
            params($($list_params),*), responses(crate::http::openapi::List<$list_view>))]
        async fn $list(
            ::axum::extract::State($app): ::axum::extract::State<::std::sync::Arc<::switchboard::App>>,
            crate::http::Auth($caller): crate::http::Auth,
            $params: crate::http::Params,
        ) -> crate::http::ApiResult {
            let $page = $params.page()?;
            Ok(crate::http::list($list_body.await?))
        }

        #[doc = $create_doc]
        #[utoipa::path(post, path = $collection, tag = $tag,
            params(crate::http::openapi::ModeParam, crate::http::openapi::IdempotencyKey),
            request_body = $input, responses(crate::http::openapi::Created<$view>))]
        async fn $create(
            ::axum::extract::State(app): ::axum::extract::State<::std::sync::Arc<::switchboard::App>>,
            crate::http::Auth(caller): crate::http::Auth,
            crate::http::Json(body): crate::http::Json<crate::http::resource::body_type!($body, $input)>,
        ) -> crate::http::ApiResult {
            Ok(crate::http::created($svc::create(&app, &caller, crate::http::resource::body_arg!($body, body)).await?))
        }

        #[doc = $get_doc]
        #[utoipa::path(get, path = $item, tag = $tag,
            params(("id" = String, Path), crate::http::openapi::ModeParam),
            responses(crate::http::openapi::Item<$view>))]
        async fn $get(
            ::axum::extract::State(app): ::axum::extract::State<::std::sync::Arc<::switchboard::App>>,
            crate::http::Auth(caller): crate::http::Auth,
            crate::http::Path(id): crate::http::Path<String>,
        ) -> crate::http::ApiResult {
            Ok(crate::http::ok($svc::get(&app, &caller, &id).await?))
        }

        #[doc = $update_doc]
        #[utoipa::path(method($($update_method),+), path = $item, tag = $tag,
            params(("id" = String, Path), crate::http::openapi::ModeParam),
            request_body = $patch, responses(crate::http::openapi::Item<$view>))]
        async fn $update(
            ::axum::extract::State(app): ::axum::extract::State<::std::sync::Arc<::switchboard::App>>,
            crate::http::Auth(caller): crate::http::Auth,
            crate::http::Path(id): crate::http::Path<String>,
            crate::http::Json(body): crate::http::Json<crate::http::resource::body_type!($body, $patch)>,
        ) -> crate::http::ApiResult {
            Ok(crate::http::ok($svc::update(&app, &caller, &id, crate::http::resource::body_arg!($body, body)).await?))
        }

        #[doc = $delete_doc]
        #[utoipa::path(delete, path = $item, tag = $tag,
            params(("id" = String, Path), crate::http::openapi::ModeParam),
            responses(crate::http::openapi::Item<switchboard::services::views::DeletedView>))]
        async fn $delete(
            ::axum::extract::State(app): ::axum::extract::State<::std::sync::Arc<::switchboard::App>>,
            crate::http::Auth(caller): crate::http::Auth,
            crate::http::Path(id): crate::http::Path<String>,
        ) -> crate::http::ApiResult {
            Ok(crate::http::ok($svc::delete(&app, &caller, &id).await?))
        }
    };
}

pub(crate) use resource_routes;

/// The type a create or update handler reads its body as: `typed`, the
/// resource's input type itself (every body is typed now; the word stays so
/// a group says what it reads).
macro_rules! body_type {
    (typed, $input:ident) => {
        $input
    };
}
pub(crate) use body_type;

/// How a handler hands its body to the service: a typed input by value
/// (see [`body_type!`]).
macro_rules! body_arg {
    (typed, $body:ident) => {
        $body
    };
}
pub(crate) use body_arg;
