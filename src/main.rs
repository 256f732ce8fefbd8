//! The `sesame` binary: parses the command line and hands over to the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], 5000));
    match sesame::app::serve(addr).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sesame: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
