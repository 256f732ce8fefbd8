//! What the administrators' pages of the web front ask of the API: users searched and paged,
//! the admin flag set at creation and changed afterwards, and the last administrator kept.

use serde_json::json;

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn users_are_searched_and_paged_with_a_total_and_links() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("root@example.com", true).await;
    for i in 0..25 {
        app.user(&format!("user{i:02}@example.com"), false).await;
    }
    app.user("grace.hopper@navy.example", false).await;

    // No query: the whole list, as the original API answers, with no paging headers.
    let r = admin.get("/users").await;
    assert_eq!(r.body.as_array().unwrap().len(), 27);
    assert_eq!(r.header("x-total-count"), None);

    let r = admin.get("/users?per_page=10").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_array().unwrap().len(), 10);
    assert_eq!(r.header("x-total-count"), Some("27"));
    assert_eq!(
        r.header("link"),
        Some("</api/v1/users?q=&page=2&per_page=10>; rel=\"next\"")
    );
    let r = admin.get("/users?page=3&per_page=10").await;
    let emails: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 7);
    assert_eq!(
        r.header("link"),
        Some("</api/v1/users?q=&page=2&per_page=10>; rel=\"prev\"")
    );
    // Past the end: an empty page, still with the total.
    let r = admin.get("/users?page=9&per_page=10").await;
    assert_eq!(r.body, json!([]));
    assert_eq!(r.header("x-total-count"), Some("27"));

    // Search ignores case and looks at the email and the names.
    let r = admin.get("/users?q=HOPPER").await;
    assert_eq!(r.header("x-total-count"), Some("1"));
    assert_eq!(r.body[0]["email"], "grace.hopper@navy.example");
    let r = admin.get("/users?q=user1").await;
    assert_eq!(r.header("x-total-count"), Some("10"));
    let r = admin.get("/users?q=a%20b&page=1").await;
    assert_eq!(r.header("x-total-count"), Some("0"));

    for (query, message) in [
        ("page=0", "page must be a whole number from 1"),
        ("page=x", "page must be a whole number from 1"),
        (
            "per_page=0",
            "per_page must be a whole number from 1 to 100",
        ),
        (
            "per_page=101",
            "per_page must be a whole number from 1 to 100",
        ),
    ] {
        admin
            .get(&format!("/users?{query}"))
            .await
            .assert_error(400, message);
    }
    let (_, plain) = app.signed_in("plain@example.com", false).await;
    plain
        .get("/users?q=user")
        .await
        .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn administrators_set_the_flag_and_the_last_one_keeps_it() {
    let app = TestApp::spawn("session_db_auth").await;
    let (root, admin) = app.signed_in("root@example.com", true).await;
    let r = admin
        .post_json(
            "/users",
            json!({"email": "second@example.com", "password": PASSWORD, "is_admin": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["is_admin"], true);
    let second = r.body["id"].as_str().unwrap().to_owned();
    admin
        .post_json(
            "/users",
            json!({"email": "third@example.com", "password": PASSWORD, "is_admin": "yes"}),
        )
        .await
        .assert_error(400, "is_admin must be true or false");

    // The new administrator can act as one at once.
    let token = app.login("second@example.com", PASSWORD).await;
    let other = app.with_cookie(&token);
    assert_eq!(other.get("/users").await.status, 200);

    // Demote the first administrator; the second is now the last and cannot drop the flag.
    let r = other
        .put_json(&format!("/users/{}", root.id), json!({"is_admin": false}))
        .await;
    assert_eq!((r.status, &r.body["is_admin"]), (200, &json!(false)));
    assert_eq!(admin.get("/users").await.status, 403);
    other
        .put_json(&format!("/users/{second}"), json!({"is_admin": false}))
        .await
        .assert_error(409, "at least one administrator must remain");
    let r = other
        .put_json(&format!("/users/{}", root.id), json!({"is_admin": true}))
        .await;
    assert_eq!(r.body["is_admin"], true);
    assert_eq!(admin.get("/users").await.status, 200);
}
