//! The page's messages on the wire, decoded and encoded as they always have been.

use super::super::files::Entry;
use super::*;

fn decode(text: &str) -> DashboardIn {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn id(s: &str) -> String {
    s.to_string()
}

#[test]
fn every_page_message_decodes_as_it_always_has() {
    let cases = [
        (
            r#"{"type":"stop-session","sessionId":"0123456789abcdef"}"#,
            DashboardIn::StopSession {
                session_id: id("0123456789abcdef"),
                machine: id(""),
            },
        ),
        (
            r#"{"type":"rename-session","sessionId":"ab","name":"new name"}"#,
            DashboardIn::RenameSession {
                session_id: id("ab"),
                name: id("new name"),
                machine: id(""),
            },
        ),
        (
            r#"{"type":"stop-session","sessionId":"ab","machine":"devbox"}"#,
            DashboardIn::StopSession {
                session_id: id("ab"),
                machine: id("devbox"),
            },
        ),
        (
            r#"{"type":"rename-session","sessionId":"ab","name":"x","machine":"devbox"}"#,
            DashboardIn::RenameSession {
                session_id: id("ab"),
                name: id("x"),
                machine: id("devbox"),
            },
        ),
        (
            r#"{"type":"get-metadata","sessionId":"ab"}"#,
            DashboardIn::GetMetadata {
                session_id: id("ab"),
            },
        ),
        (
            r#"{"type":"clear-attention","sessionId":"ab"}"#,
            DashboardIn::ClearAttention {
                session_id: id("ab"),
            },
        ),
        (
            r#"{"type":"create-session","tool":"claude","cwd":"/home/u/proj"}"#,
            DashboardIn::CreateSession {
                tool: id("claude"),
                cwd: id("/home/u/proj"),
                machine: id(""),
            },
        ),
        (
            r#"{"type":"create-session","tool":"claude","cwd":"","machine":"devbox"}"#,
            DashboardIn::CreateSession {
                tool: id("claude"),
                cwd: id(""),
                machine: id("devbox"),
            },
        ),
        (
            r#"{"type":"list-dir","path":""}"#,
            DashboardIn::ListDir {
                path: id(""),
                machine: id(""),
            },
        ),
        (
            r#"{"type":"open-remote","machine":"devbox","sessionId":"ab"}"#,
            DashboardIn::OpenRemote {
                machine: id("devbox"),
                session_id: id("ab"),
            },
        ),
        // A missing string is empty: list-dir without a path lists home.
        (
            r#"{"type":"list-dir"}"#,
            DashboardIn::ListDir {
                path: id(""),
                machine: id(""),
            },
        ),
        (
            r#"{"type":"list-dir","path":"~/src","machine":"devbox"}"#,
            DashboardIn::ListDir {
                path: id("~/src"),
                machine: id("devbox"),
            },
        ),
        (
            r#"{"type":"get-metadata"}"#,
            DashboardIn::GetMetadata { session_id: id("") },
        ),
        // Extra fields, and fields in any order, are fine.
        (
            r#"{"sessionId":"ab","type":"stop-session","confirm":true,"n":[1,2]}"#,
            DashboardIn::StopSession {
                session_id: id("ab"),
                machine: id(""),
            },
        ),
        (r#"{"type":"bogus","pad":"xx"}"#, DashboardIn::Unknown),
        (r#"{"type":"sessions"}"#, DashboardIn::Unknown),
    ];
    for (text, expected) in cases {
        let decoded = decode(text);
        if expected != DashboardIn::Unknown {
            let tag: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(decoded.operation(), tag["type"], "{text}");
        }
        assert_eq!(decoded, expected, "{text}");
    }
    for bad in [
        "{not json",
        r#"{"sessionId":"ab"}"#,
        r#"{"type":"list-dir","path":5}"#,
    ] {
        assert!(serde_json::from_str::<DashboardIn>(bad).is_err(), "{bad}");
    }
}

fn session() -> json::Session {
    json::Session {
        id: id("0123456789abcdef"),
        name: id("sh"),
        agent: id("sh"),
        command: id("sh -c x"),
        cwd: id("/h"),
        pid: 7,
        port: Some(7964),
        status: itwillsync_protocol::Status::Idle,
        clients: 0,
        client_kinds: json::ClientKinds {
            terminal: 0,
            phone: 0,
            read_only: 0,
        },
        cols: 80,
        rows: 24,
        connected_at: 1,
        last_seen: 2,
        attention_message: None,
        key: Some(id("KEY")),
        url: None,
        machine: None,
        offline: None,
    }
}

const SESSION: &str = concat!(
    r#"{"id":"0123456789abcdef","name":"sh","agent":"sh","command":"sh -c x","cwd":"/h","#,
    r#""pid":7,"port":7964,"status":"idle","clients":0,"#,
    r#""clientKinds":{"terminal":0,"phone":0,"readOnly":0},"cols":80,"rows":24,"#,
    r#""connectedAt":1,"lastSeen":2,"attentionMessage":null,"key":"KEY"}"#
);

#[test]
fn every_server_message_is_the_json_the_page_expects() {
    let lines = vec![id("$ make"), id("ok \"done\"")];
    let cases = [
        (
            DashboardOut::Sessions {
                sessions: vec![session()],
                home: Some(id("/home/u")),
            },
            format!(r#"{{"type":"sessions","sessions":[{SESSION}],"home":"/home/u"}}"#),
        ),
        (
            DashboardOut::Sessions {
                sessions: vec![],
                home: None,
            },
            id(r#"{"type":"sessions","sessions":[],"home":null}"#),
        ),
        (
            DashboardOut::SessionAdded { session: session() },
            format!(r#"{{"type":"session-added","session":{SESSION}}}"#),
        ),
        (
            DashboardOut::SessionUpdated { session: session() },
            format!(r#"{{"type":"session-updated","session":{SESSION}}}"#),
        ),
        (
            DashboardOut::SessionCreated { session: session() },
            format!(r#"{{"type":"session-created","session":{SESSION}}}"#),
        ),
        (
            DashboardOut::SessionRemoved { session_id: "ab" },
            id(r#"{"type":"session-removed","sessionId":"ab"}"#),
        ),
        (
            DashboardOut::Preview {
                session_id: "ab",
                machine: None,
                lines: &lines,
            },
            id(r#"{"type":"preview","sessionId":"ab","lines":["$ make","ok \"done\""]}"#),
        ),
        (
            DashboardOut::Preview {
                session_id: "ab",
                machine: Some("devbox"),
                lines: &lines[..1],
            },
            id(r#"{"type":"preview","sessionId":"ab","machine":"devbox","lines":["$ make"]}"#),
        ),
        (
            DashboardOut::RemoteOpened {
                machine: "devbox",
                session_id: "ab",
                port: 4000,
                key: id("KEY"),
            },
            id(
                r#"{"type":"remote-opened","machine":"devbox","sessionId":"ab","port":4000,"key":"KEY"}"#,
            ),
        ),
        (
            DashboardOut::Metadata {
                session_id: "ab",
                metadata: Metadata {
                    pid: 7,
                    agent: id("sh"),
                    cwd: id("/h"),
                    port: Some(7964),
                    memory_kb: 1024,
                    uptime_ms: 5000,
                    connected_at: 1,
                },
            },
            id(concat!(
                r#"{"type":"metadata","sessionId":"ab","metadata":{"pid":7,"agent":"sh","#,
                r#""cwd":"/h","port":7964,"memoryKB":1024,"uptimeMs":5000,"connectedAt":1}}"#
            )),
        ),
        (
            DashboardOut::OperationError {
                operation: "rename-session",
                session_id: "ab",
                error: id("a session named \"sh\" exists"),
            },
            id(concat!(
                r#"{"type":"operation-error","operation":"rename-session","sessionId":"ab","#,
                r#""error":"a session named \"sh\" exists"}"#
            )),
        ),
        (
            DashboardOut::DirListing {
                listing: Listing {
                    path: id("/home/u/a"),
                    parent: Some(id("/home/u")),
                    entries: vec![Entry {
                        name: id("b"),
                        path: id("/home/u/a/b"),
                    }],
                    home: id("/home/u"),
                },
                machine: None,
            },
            id(concat!(
                r#"{"type":"dir-listing","path":"/home/u/a","parent":"/home/u","#,
                r#""entries":[{"name":"b","path":"/home/u/a/b"}],"home":"/home/u"}"#
            )),
        ),
        (
            DashboardOut::DirListing {
                listing: Listing {
                    path: id("/home/me"),
                    parent: None,
                    entries: vec![],
                    home: id("/home/me"),
                },
                machine: Some("devbox"),
            },
            id(concat!(
                r#"{"type":"dir-listing","path":"/home/me","parent":null,"entries":[],"#,
                r#""home":"/home/me","machine":"devbox"}"#
            )),
        ),
        (
            DashboardOut::SessionCreating {
                tool: "cat",
                cwd: "/home/u/proj",
            },
            id(r#"{"type":"session-creating","tool":"cat","cwd":"/home/u/proj"}"#),
        ),
        (
            DashboardOut::SessionCreateError {
                error: id("no such directory"),
            },
            id(r#"{"type":"session-create-error","error":"no such directory"}"#),
        ),
    ];
    for (msg, expected) in cases {
        let json = msg.to_json();
        assert_eq!(std::str::from_utf8(&json).unwrap(), expected);
    }
}
