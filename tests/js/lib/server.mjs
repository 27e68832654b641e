// A real `pinegate serve` for the client scenarios: a fresh --dev data directory on free
// loopback ports, started from $PINEGATE_BIN (the ASan test build under `make test`),
// stopped with SIGTERM. Its log goes to <dataDir>/serve.log so a failing scenario can
// show it; the process must exit 0 on stop, otherwise the scenario fails.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, openSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = process.env.PINEGATE_BIN;

function freePort() {
    return new Promise((resolve, reject) => {
        const s = createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

async function waitUp(url, deadlineMs) {
    while (Date.now() < deadlineMs) {
        try {
            const r = await fetch(url);
            if (r.ok) return;
        } catch {
            /* not listening yet */
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server did not come up at ${url}`);
}

// Starts a server; `editConfig` may rewrite the generated config.yaml text first.
export async function startServer({ editConfig = null } = {}) {
    if (!BIN) throw new Error("PINEGATE_BIN is not set (run through make test / make clients)");
    const dataDir = mkdtempSync(join(tmpdir(), "pinegate-js-"));
    const clientPort = await freePort();
    const fedPort = await freePort();
    execFileSync(BIN, ["generate-config", "--dev", "--data-dir", dataDir, "--client-port", String(clientPort),
        "--federation-port", String(fedPort)], { stdio: "pipe" });
    if (editConfig) {
        const path = join(dataDir, "config.yaml");
        writeFileSync(path, editConfig(readFileSync(path, "utf8")));
    }
    const logFd = openSync(join(dataDir, "serve.log"), "a");
    const child = spawn(BIN, ["serve", "--config", join(dataDir, "config.yaml")], {
        stdio: ["ignore", logFd, logFd],
    });
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    const baseUrl = `http://127.0.0.1:${clientPort}`;
    try {
        await waitUp(`${baseUrl}/_matrix/client/versions`, Date.now() + 20000);
    } catch (e) {
        child.kill("SIGKILL");
        throw new Error(`${e.message}\n${readFileSync(join(dataDir, "serve.log"), "utf8")}`);
    }
    const serverName = `localhost:${fedPort}`;
    return {
        baseUrl,
        serverName,
        dataDir,
        log: () => readFileSync(join(dataDir, "serve.log"), "utf8"),
        async stop() {
            child.kill("SIGTERM");
            const { code, signal } = await exited;
            const log = readFileSync(join(dataDir, "serve.log"), "utf8");
            rmSync(dataDir, { recursive: true, force: true });
            if (code !== 0) throw new Error(`pinegate serve exited with ${code ?? signal}\n${log}`);
        },
    };
}
