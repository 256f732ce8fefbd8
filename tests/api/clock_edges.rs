//! Session expiry at the edges of time, under `session_exp_auth` (sessions in memory) and
//! `session_db_auth` (sessions in SQLite), through HTTP with the injected [`ManualClock`].
//!
//! The rules, as src/domain.rs (`expired`) and src/service.rs (`resolve_session`,
//! `touch_interval`) have them:
//! - a session has ended at `now` when `now >= created_at + SESSION_DURATION` (absolute) or
//!   `now >= last_seen_at + SESSION_IDLE_TIMEOUT` (idle): the instant itself is on the "ended"
//!   side of both limits;
//! - a use is recorded (`last_seen_at = now`) only when `now - last_seen_at` is at least
//!   `min(60 s, idle / 4)` (at least 1 s), and never moves `last_seen_at` backwards.
//!
//! [`ManualClock`]: sesame::clock::ManualClock

use serde_json::{Value, json};
use sesame::domain::format_timestamp;

use crate::support::{PASSWORD, T0, TestApp};

const ME: &str = "/users/me";
const SCHEMES: [&str; 2] = ["session_exp_auth", "session_db_auth"];
const EMAIL: &str = "bob@hbtn.io";

/// A server under `auth` with `SESSION_DURATION=duration`, `SESSION_IDLE_TIMEOUT=idle`, and bob.
async fn app(auth: &str, duration: &str, idle: &str) -> TestApp {
    let app = TestApp::spawn_with(|c| {
        c.auth_type = auth.into();
        c.session_duration = duration.into();
        c.session_idle_timeout = idle.into();
    })
    .await;
    app.user(EMAIL, false).await;
    app
}

/// Logs bob in at the clock's current time; returns the token and the cookie's `Max-Age`.
async fn login(app: &TestApp) -> (String, Option<i64>) {
    let r = app.anon().login_form(EMAIL, PASSWORD).await;
    assert_eq!(r.status, 200, "login: {}", r.text);
    let set_cookie = r.header("set-cookie").unwrap().to_owned();
    let max_age = set_cookie
        .split(';')
        .find_map(|a| a.trim().strip_prefix("Max-Age="))
        .map(|v| v.parse().unwrap());
    (r.cookie(&app.raw.session_name).unwrap(), max_age)
}

/// The status of `GET /users/me` with the session `token`.
async fn me(app: &TestApp, token: &str) -> u16 {
    app.with_cookie(token).get(ME).await.status
}

/// Sets the clock to `t`.
fn at(app: &TestApp, t: i64) {
    app.clock.set(t);
}

/// Asserts that `GET /users/me` with `token` answers 200 with bob.
async fn works(app: &TestApp, token: &str, what: impl std::fmt::Display) {
    let r = app.with_cookie(token).get(ME).await;
    let t = now(app) - T0;
    assert_eq!(r.status, 200, "{what} (clock at T0{t:+}): {}", r.text);
    assert_eq!(r.body["email"], EMAIL, "{what}");
}

/// Asserts that `GET /users/me` with `token` answers 403 `Forbidden`.
async fn refused(app: &TestApp, token: &str, what: impl std::fmt::Display) {
    let r = app.with_cookie(token).get(ME).await;
    let t = now(app) - T0;
    assert_eq!(r.status, 403, "{what} (clock at T0{t:+}): {}", r.text);
    r.assert_error(403, "Forbidden");
}

/// The clock's current time.
fn now(app: &TestApp) -> i64 {
    use sesame::clock::Clock as _;
    app.clock.now()
}

/// The current session's entry in `GET /users/me/sessions` (which is itself a use of it).
async fn my_session(app: &TestApp, token: &str) -> Value {
    let r = app.with_cookie(token).get("/users/me/sessions").await;
    assert_eq!(r.status, 200, "sessions list: {}", r.text);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .cloned()
        .unwrap_or_else(|| panic!("no current session in {}", r.text))
}

#[tokio::test]
async fn a_session_works_one_second_before_its_absolute_expiry_and_is_refused_at_and_after_it() {
    for auth in SCHEMES {
        let app = app(auth, "3600", "0").await;
        // Log in at an odd second, so the limit is counted from the login, not from T0.
        let login_at = T0 + 17;
        at(&app, login_at);
        let (a, max_age) = login(&app).await;
        let (b, _) = login(&app).await;
        // The browser keeps the cookie Max-Age seconds from the login: until login_at + 3600.
        // The server ends the session when `now >= created_at + SESSION_DURATION`, so the
        // instant `login_at + Max-Age` is already on the "expired" side for both: the server
        // never accepts a session the browser would already have dropped, and never refuses
        // one a second before the cookie runs out.
        assert_eq!(max_age, Some(3600), "{auth}");
        let end = login_at + max_age.unwrap();
        at(&app, end - 1);
        works(&app, &a, format!("{auth}: one second before the end")).await;
        assert_eq!(
            my_session(&app, &a).await["expires_at"],
            format_timestamp(end),
            "{auth}: the list shows the instant the session ends"
        );
        at(&app, end);
        refused(&app, &a, format!("{auth}: at the end")).await;
        // `b` was not looked at since the login: its refusal after the end is a check of its
        // own, not the leftover of a deletion.
        at(&app, end + 1);
        refused(&app, &b, format!("{auth}: a second after the end")).await;
    }
}

#[tokio::test]
async fn a_session_unused_for_one_second_less_than_the_idle_timeout_works_and_for_exactly_it_is_refused()
 {
    for auth in SCHEMES {
        // idle 40 s: a use is recorded when at least 10 s passed since the last recorded one.
        let app = app(auth, "0", "40").await;
        let (a, max_age) = login(&app).await;
        let (b, _) = login(&app).await;
        let (never_used, _) = login(&app).await;
        assert_eq!(max_age, None, "{auth}: no absolute lifetime, no Max-Age");
        // Both used 39 s after the login: recorded, since 39 s >= the 10 s interval.
        at(&app, T0 + 39);
        works(&app, &a, auth).await;
        works(&app, &b, auth).await;
        // 39 s unused: still alive.
        at(&app, T0 + 78);
        works(&app, &b, format!("{auth}: 39 s after its last use")).await;
        // 40 s unused: ended.
        at(&app, T0 + 79);
        refused(&app, &a, format!("{auth}: 40 s after its last use")).await;
        // Never used since the login at T0: ended 40 s after it, and after that.
        at(&app, T0 + 80);
        refused(&app, &never_used, format!("{auth}: 80 s unused")).await;
        // `b`, used at T0+78, ends at T0+118, and the list says so.
        at(&app, T0 + 117);
        let listed = my_session(&app, &b).await; // a use at T0+117, recorded
        assert_eq!(
            listed["expires_at"],
            format_timestamp(T0 + 117 + 40),
            "{auth}"
        );
        at(&app, T0 + 117 + 39);
        works(&app, &b, auth).await;
        at(&app, T0 + 117 + 39 + 40);
        refused(&app, &b, auth).await;
    }
}

#[tokio::test]
async fn a_use_inside_the_touch_interval_is_not_recorded_so_the_session_ends_idle_after_the_last_recorded_use()
 {
    for auth in SCHEMES {
        // idle 40 s: touch interval 10 s.
        let app = app(auth, "0", "40").await;
        let (a, _) = login(&app).await;
        let (b, _) = login(&app).await;
        // 9 s after the login: inside the interval, nothing is written.
        at(&app, T0 + 9);
        works(&app, &a, auth).await;
        assert_eq!(
            my_session(&app, &a).await["last_seen_at"],
            format_timestamp(T0),
            "{auth}: a use inside the interval writes nothing"
        );
        // 10 s after the login: recorded; `b` then lives until T0+50.
        at(&app, T0 + 10);
        assert_eq!(
            my_session(&app, &b).await["last_seen_at"],
            format_timestamp(T0 + 10),
            "{auth}: a use after the interval is recorded"
        );
        // So `a` ends 40 s after the login, only 31 s after it was last used: at most a
        // quarter early, as documented.
        at(&app, T0 + 40);
        refused(&app, &a, format!("{auth}: 31 s after an unrecorded use")).await;
        at(&app, T0 + 49);
        works(&app, &b, auth).await; // 39 s after T0+10; recorded at T0+49
        at(&app, T0 + 49 + 40);
        refused(&app, &b, auth).await;
    }
}

#[tokio::test]
async fn a_session_used_at_most_three_quarters_of_the_idle_timeout_apart_stays_alive_across_many_idle_windows()
 {
    for auth in SCHEMES {
        // idle 40 s, touch interval 10 s: a recorded use lags the real one by at most 9 s, so
        // any gap up to 40 - 10 = 30 s keeps the session alive. Gaps of every kind: the
        // largest, smaller than the interval, just on and around it.
        let app = app(auth, "0", "40").await;
        let (token, _) = login(&app).await;
        let gaps = [30, 1, 9, 10, 11, 29, 30, 7, 3, 30, 19, 30];
        let mut t = T0;
        for round in 0..25 {
            for gap in gaps {
                t += gap;
                at(&app, t);
                works(&app, &token, format!("{auth}: round {round}, gap {gap}")).await;
            }
        }
        assert!(
            t - T0 > 100 * 40,
            "{auth}: many idle windows ({} s)",
            t - T0
        );
        // And then left alone for the idle timeout: ended.
        at(&app, t + 40);
        refused(&app, &token, format!("{auth}: unused for 40 s at last")).await;
    }
}

#[tokio::test]
async fn with_a_long_idle_timeout_a_session_used_every_59_minutes_stays_alive_for_days() {
    for auth in SCHEMES {
        // idle 3600 s: touch interval 60 s; gaps of 3540 s are the largest that are safe.
        let app = app(auth, "0", "3600").await;
        let (token, _) = login(&app).await;
        let mut t = T0;
        for i in 0..50 {
            t += 3540;
            at(&app, t);
            works(&app, &token, format!("{auth}: use {i}")).await;
        }
        at(&app, t + 3599);
        works(&app, &token, auth).await;
        at(&app, t + 3599 + 3600);
        refused(&app, &token, auth).await;
    }
}

#[tokio::test]
async fn a_session_kept_busy_every_few_seconds_still_ends_at_its_absolute_expiry() {
    for auth in SCHEMES {
        let app = app(auth, "300", "60").await;
        let (token, max_age) = login(&app).await;
        assert_eq!(max_age, Some(300), "{auth}");
        let mut t = T0;
        while t < T0 + 295 {
            t += 5;
            at(&app, t);
            works(&app, &token, format!("{auth}: busy at T0+{}", t - T0)).await;
        }
        at(&app, T0 + 299);
        works(&app, &token, auth).await;
        // The list shows the absolute end, the earlier of the two limits.
        assert_eq!(
            my_session(&app, &token).await["expires_at"],
            format_timestamp(T0 + 300),
            "{auth}"
        );
        at(&app, T0 + 300);
        refused(&app, &token, format!("{auth}: at the absolute end")).await;
    }
}

#[tokio::test]
async fn a_session_with_absolute_lifetime_left_ends_when_it_has_been_idle_for_the_timeout() {
    for auth in SCHEMES {
        // One hour absolute, one minute idle (touch interval 15 s).
        let app = app(auth, "3600", "60").await;
        let (a, _) = login(&app).await;
        let (b, _) = login(&app).await;
        at(&app, T0 + 30);
        works(&app, &a, auth).await;
        assert_eq!(
            my_session(&app, &b).await["expires_at"],
            format_timestamp(T0 + 30 + 60),
            "{auth}: the idle end comes first"
        );
        at(&app, T0 + 89);
        works(&app, &b, format!("{auth}: 59 s idle")).await;
        at(&app, T0 + 90);
        refused(&app, &a, format!("{auth}: 60 s idle, 3510 s left")).await;
    }
}

#[tokio::test]
async fn a_clock_jumping_back_keeps_the_session_working_and_it_ends_at_the_same_absolute_instant() {
    for auth in SCHEMES {
        for jump in [3600, 86_400] {
            let app = app(auth, "7200", "0").await;
            let (token, max_age) = login(&app).await;
            let end = T0 + max_age.unwrap();
            at(&app, T0 + 600);
            works(&app, &token, auth).await;
            // The clock jumps back; the session keeps working, and is used for a while.
            let back = T0 + 600 - jump;
            for step in 0..10 {
                at(&app, back + step * 120);
                let what = format!("{auth}: {jump} s back, step {step}");
                works(&app, &token, &what).await;
                assert_eq!(
                    my_session(&app, &token).await["expires_at"],
                    format_timestamp(end),
                    "{what}: the end does not move"
                );
            }
            // The clock comes forward again: the session ends where it always would have.
            at(&app, end - 1);
            works(&app, &token, format!("{auth}: {jump} s back, then forward")).await;
            at(&app, end);
            refused(&app, &token, format!("{auth}: {jump} s back, at the end")).await;
        }
    }
}

#[tokio::test]
async fn a_clock_jumping_back_neither_extends_nor_shortens_the_idle_limit() {
    for auth in SCHEMES {
        for jump in [3600, 86_400] {
            // idle 30 min (touch interval 60 s), absolute 2 days.
            let app = app(auth, "172800", "1800").await;
            let (a, _) = login(&app).await;
            let (b, _) = login(&app).await;
            at(&app, T0 + 600);
            works(&app, &a, auth).await; // recorded: last seen T0+600
            works(&app, &b, auth).await;
            // Used while the clock is behind: the recorded last use stays at T0+600.
            for step in 0..5 {
                at(&app, T0 + 600 - jump + step * 300);
                works(&app, &a, format!("{auth}: {jump} s back")).await;
                works(&app, &b, format!("{auth}: {jump} s back")).await;
            }
            assert_eq!(
                my_session(&app, &a).await["last_seen_at"],
                format_timestamp(T0 + 600),
                "{auth}: a use in the past moves nothing"
            );
            at(&app, T0 + 600 + 1799);
            works(&app, &a, format!("{auth}: {jump} s back, then forward")).await;
            at(&app, T0 + 600 + 1800);
            refused(&app, &b, format!("{auth}: idle from its last real use")).await;
        }
    }
}

#[tokio::test]
async fn a_clock_set_back_before_the_session_was_created_breaks_no_request() {
    for auth in SCHEMES {
        // A day, ten years, and the Unix epoch itself before the login.
        for back_to in [T0 - 86_400, T0 - 10 * 365 * 86_400, 0] {
            let app = app(auth, "3600", "600").await;
            let (token, _) = login(&app).await;
            let (other, _) = login(&app).await;
            at(&app, back_to);
            let what = format!("{auth}: clock at {}", format_timestamp(back_to));
            let c = app.with_cookie(&token);
            works(&app, &token, &what).await;
            let r = c.get("/users/me/sessions").await;
            assert_eq!(r.status, 200, "{what}: {}", r.text);
            let list = r.body.as_array().unwrap().clone();
            assert_eq!(list.len(), 2, "{what}: {}", r.text);
            for s in &list {
                assert_eq!(s["created_at"], format_timestamp(T0), "{what}");
                assert_eq!(s["last_seen_at"], format_timestamp(T0), "{what}");
                // min(T0 + 3600, T0 + 600): neither limit moved.
                assert_eq!(s["expires_at"], format_timestamp(T0 + 600), "{what}");
            }
            let r = c.get("/stats").await;
            assert_eq!(r.status, 200, "{what}: {}", r.text);
            let r = c.put_json(ME, json!({"first_name": "Past"})).await;
            assert_eq!(r.status, 200, "{what}: {}", r.text);
            assert_eq!(r.body["first_name"], "Past", "{what}");
            assert_eq!(r.body["updated_at"], format_timestamp(back_to), "{what}");
            // Logging in again, right and wrong, while the clock is behind.
            let r = app.anon().login_form(EMAIL, "not the password").await;
            r.assert_error(401, "wrong email or password");
            let (newer, _) = login(&app).await;
            works(&app, &newer, format!("{what}: a session made now")).await;
            // Ending sessions while the clock is behind.
            let other_id = list
                .iter()
                .find(|s| s["current"] == false)
                .unwrap()
                .get("id")
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned();
            let r = c.delete(&format!("/users/me/sessions/{other_id}")).await;
            assert_eq!(r.status, 200, "{what}: {}", r.text);
            refused(&app, &other, format!("{what}: revoked")).await;
            let r = app.with_cookie(&newer).delete("/auth_session/logout").await;
            assert_eq!(r.status, 200, "{what}: {}", r.text);
            refused(&app, &newer, format!("{what}: logged out")).await;
            // Forward again: the session made at T0 ends idle at T0+600 as it always would.
            at(&app, T0 + 599);
            works(&app, &token, format!("{what}, then forward")).await;
            at(&app, T0 + 599 + 600);
            refused(&app, &token, format!("{what}, then idle")).await;
        }
    }
}

#[tokio::test]
async fn with_no_absolute_lifetime_the_idle_timeout_alone_ends_a_session() {
    for auth in SCHEMES {
        for duration in ["0", "-1"] {
            let app = app(auth, duration, "3600").await;
            let (token, max_age) = login(&app).await;
            let what = format!("{auth}, SESSION_DURATION={duration}");
            assert_eq!(max_age, None, "{what}: a cookie for the browser's session");
            // Kept in use for 10 days, far past the default one-day lifetime.
            let mut t = T0;
            while t < T0 + 10 * 86_400 {
                t += 3540;
                at(&app, t);
                works(&app, &token, format!("{what}: day {}", (t - T0) / 86_400)).await;
            }
            // The list shows the idle end alone.
            assert_eq!(
                my_session(&app, &token).await["expires_at"],
                format_timestamp(t + 3600),
                "{what}"
            );
            at(&app, t + 3599);
            works(&app, &token, &what).await;
            at(&app, t + 3599 + 3600);
            refused(&app, &token, format!("{what}: idle for the timeout")).await;
            assert_eq!(me(&app, &token).await, 403, "{what}: and it stays ended");
        }
    }
}
