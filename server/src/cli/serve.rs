//! `rollcall serve`: the API and the web app until Ctrl-C or SIGTERM.

use crate::settings::Settings;

/// Serves with `settings` (already read from flags, environment and defaults by clap).
pub(super) fn run(settings: Settings) -> Result<(), String> {
    settings.validate().map_err(|e| e.to_string())?;
    crate::logging::init(&settings.log, settings.log_format);
    let bind = settings.bind;
    actix_web::rt::System::new().block_on(async move {
        let listener = std::net::TcpListener::bind(bind).map_err(|e| crate::listen_error("--bind", bind, &e))?;
        let server = crate::launch(settings, listener).map_err(|e| e.to_string())?;
        // The first line is what scripts and tests wait for.
        say(format_args!("Rollcall is running at {}", server.url()));
        if let Some(tls) = server.tls() {
            match tls.authority() {
                Some(ca) => {
                    if let Some(trust_url) = server.trust_url() {
                        say(format_args!("Tablets trust its certificate authority at {trust_url}"));
                    }
                    say(format_args!(
                        "Certificate authority SHA-256 fingerprint: {}",
                        ca.sha256_fingerprint()
                    ));
                }
                None => {
                    let certificate = tls.current();
                    say(format_args!(
                        "HTTPS certificate for {}, valid until {}",
                        certificate.names.join(", "),
                        certificate.not_after.date()
                    ));
                }
            }
        }
        if let Some(metrics_addr) = server.metrics_addr {
            println!("Metrics are at http://{metrics_addr}/metrics");
        }
        let stop = server.stop_handle();
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing requests in flight");
            stop.stop().await;
        });
        server.wait().await.map_err(|e| e.to_string())
    })
}

/// Prints a line of what `serve` says at start. A script that read the line it waited for and
/// closed its end of stdout must not stop the server (`println!` would panic).
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Ctrl-C or SIGTERM (what systemd and `docker stop` send).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use actix_web::rt::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = actix_web::rt::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = actix_web::rt::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_web::rt::signal::ctrl_c().await;
    }
}
