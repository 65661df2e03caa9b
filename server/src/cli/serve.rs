//! `rollcall serve`: the API and the web app until Ctrl-C or SIGTERM.

use crate::settings::Settings;

/// Serves with `settings` (already read from flags, environment and defaults by clap).
pub(super) fn run(settings: Settings) -> Result<(), String> {
    settings.validate().map_err(|e| e.to_string())?;
    crate::logging::init(&settings.log, settings.log_format);
    let bind = settings.bind;
    actix_web::rt::System::new().block_on(async move {
        let listener = std::net::TcpListener::bind(bind).map_err(|e| {
            format!("cannot listen on {bind}: {e}; is another server using that port? Pick another with --bind")
        })?;
        let server = crate::launch(settings, listener).map_err(|e| e.to_string())?;
        println!("Rollcall is running at http://{}/", server.addr);
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
