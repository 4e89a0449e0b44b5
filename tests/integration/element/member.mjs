// A member with Element's own crypto stack: matrix-js-sdk with its Rust crypto
// (@matrix-org/matrix-sdk-crypto-wasm), the code Element Web and Desktop run.
//
// Driven by tests/integration/test_element_client.py. Two subcommands:
//
//   node member.mjs member --homeserver URL --user @u:hs --password PW --bot @bot:hs [--strict]
//   node member.mjs new-identity --homeserver URL --user @u:hs --password PW
//
// new-identity logs in, resets the account's cross-signing keys (as "Reset identity" in
// Element does), logs out and stops: a test uses it on the bot's account to get a bot
// whose device its owner's current keys did not sign.
//
// member logs in, bootstraps cross-signing for the member (password UIA), optionally
// turns on "exclude insecure devices", and then reads commands on stdin, one a line:
//
//   dm            open an encrypted DM with the bot the way Element does
//   send TEXT     send TEXT in that DM
//   verify        verify the bot in that DM with emoji (SAS), as its profile's "Verify" in
//                 Element does: confirms the emoji at once and reports the bot's status
//   quit          log out and stop
//
// and writes JSON lines on stdout: {"event": "ready" | "dm" | "sent" | "message" | "verified" | "error", ...}.
// Every message of the bot in the DM is written once when it arrives and again whenever
// its decryption changes (a late key), with its shield as Element would draw it.
// Logs of the SDK go to stderr, so stdout stays machine-readable.

import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

// Node 20 lacks Promise.withResolvers (Node 22 has it), which the SDK calls: the shim
// comes before the SDK is imported (dynamically, below: static imports run first).
if (typeof Promise.withResolvers !== "function") {
    Promise.withResolvers = function withResolvers() {
        let resolve, reject;
        const promise = new this((res, rej) => {
            resolve = res;
            reject = rej;
        });
        return { promise, resolve, reject };
    };
}

const sdk = await import("matrix-js-sdk");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
const {
    EventShieldColour,
    EventShieldReason,
    OnlySignedDevicesIsolationMode,
    VerificationPhase,
    VerificationRequestEvent,
    VerifierEvent,
} = await import("matrix-js-sdk/lib/crypto-api/index.js");

// The SDK logs to the console, i.e. stdout: its warnings and errors go to stderr instead
// (MEMBER_SDK_LOG=debug for everything), so stdout carries only our JSON lines.
const verbose = process.env.MEMBER_SDK_LOG === "debug";
for (const method of ["trace", "debug", "info", "log", "warn", "error"]) {
    const shown = verbose || method === "warn" || method === "error";
    logger[method] = shown ? (...args) => process.stderr.write(`[sdk ${method}] ${args.join(" ")}\n`) : () => {};
}

const MEGOLM = "m.megolm.v1.aes-sha2";

function emit(record) {
    process.stdout.write(`${JSON.stringify(record)}\n`);
}

function fail(message) {
    emit({ event: "error", message });
}

const { values: opts, positionals } = parseArgs({
    allowPositionals: true,
    options: {
        homeserver: { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        bot: { type: "string" },
        strict: { type: "boolean", default: false },
    },
});
const subcommand = positionals[0];
const known = subcommand === "new-identity" || (subcommand === "member" && opts.bot);
if (!known || !opts.homeserver || !opts.user || !opts.password) {
    process.stderr.write(
        "usage: node member.mjs member --homeserver URL --user ID --password PW --bot ID [--strict]\n" +
            "       node member.mjs new-identity --homeserver URL --user ID --password PW\n",
    );
    process.exit(2);
}

/** Password UIA, as Element asks for it when the homeserver wants it: first without auth
 * (Synapse lets a first upload of cross-signing keys through), then with the password
 * and the session the homeserver handed out. */
async function passwordAuth(makeRequest) {
    try {
        await makeRequest(null);
        return;
    } catch (error) {
        const session = error?.data?.session;
        if (error?.httpStatus !== 401 || !session) throw error;
        await makeRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: opts.user },
            password: opts.password,
            session,
        });
    }
}

async function login() {
    const bare = sdk.createClient({ baseUrl: opts.homeserver });
    const response = await bare.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: opts.user },
        password: opts.password,
        initial_device_display_name: "element-stack member",
    });
    bare.stopClient();
    return sdk.createClient({
        baseUrl: opts.homeserver,
        userId: response.user_id,
        deviceId: response.device_id,
        accessToken: response.access_token,
    });
}

function waitForSync(client) {
    return new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state) => {
            if (state === "PREPARED" || state === "SYNCING") resolve();
            if (state === "ERROR") reject(new Error("first sync failed"));
        });
    });
}

const client = await login();
// In memory: every run is a new device, as a fresh Element login is.
await client.initRustCrypto({ useIndexedDB: false });
const crypto = client.getCrypto();
const synced = waitForSync(client);
await client.startClient({ initialSyncLimit: 10 });
await synced;

// The member's own identity: master, self-signing and user-signing keys, this device
// signed, as Element sets up on first login. A member who is cross-signed is what makes
// "exclude insecure devices" meaningful (its own devices are trusted).
if (subcommand === "new-identity") {
    // "Reset identity" from a client that does not have the account's recovery key: the
    // bot keeps its key backup's key in secret storage, and the SDK would want that key
    // to store the new keys there too. Without a default secret storage key it does not.
    await client.setAccountData("m.secret_storage.default_key", {});
}
await crypto.bootstrapCrossSigning({ setupNewCrossSigning: true, authUploadDeviceSigningKeys: passwordAuth });
if (subcommand === "new-identity") {
    emit({ event: "identity" }); // the test reads the new keys from the homeserver
    client.stopClient();
    await client.logout(true); // the device goes; the new keys stay on the account
    process.exit(0);
}
if (opts.strict) {
    // Element's "Exclude insecure devices when sending/receiving messages" (MSC4153).
    crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
}
const own = await crypto.getDeviceVerificationStatus(client.getUserId(), client.getDeviceId());
emit({
    event: "ready",
    user_id: client.getUserId(),
    device_id: client.getDeviceId(),
    cross_signing: Boolean(own?.crossSigningVerified), // this device signed by the member's keys
    strict: opts.strict,
});

let dmRoomId = null;
const reported = new Map(); // event id -> last JSON written, so only changes are written again

/** What Element would show for one of the bot's messages: readable or not, and its shield. */
async function report(event) {
    if (event.getRoomId() !== dmRoomId || event.getSender() !== opts.bot) return;
    if (event.getType() !== "m.room.message" && event.getWireType() !== "m.room.encrypted") return;
    if (event.isBeingDecrypted()) return; // reported when the Decrypted event fires
    const encrypted = event.isEncrypted();
    let info = null;
    if (encrypted && !event.isDecryptionFailure()) info = await crypto.getEncryptionInfoForEvent(event);
    const content = event.getContent();
    const record = {
        event: "message",
        event_id: event.getId(),
        encrypted,
        decrypted: encrypted ? !event.isDecryptionFailure() : null,
        failure: event.decryptionFailureReason ?? null,
        msgtype: content.msgtype ?? null,
        body: event.isDecryptionFailure() ? null : (content.body ?? null),
        in_reply_to: content["m.relates_to"]?.["m.in_reply_to"]?.event_id ?? null,
        shield: info ? EventShieldColour[info.shieldColour] : null,
        shield_reason: info && info.shieldReason !== null ? EventShieldReason[info.shieldReason] : null,
    };
    const line = JSON.stringify(record);
    if (reported.get(record.event_id) === line) return;
    reported.set(record.event_id, line);
    emit(record);
}

client.on(sdk.RoomEvent.Timeline, (event, _room, toStartOfTimeline) => {
    if (toStartOfTimeline) return;
    // The SDK starts decrypting on arrival; wait for that, then report.
    client
        .decryptEventIfNeeded(event)
        .then(() => report(event))
        .catch((error) => fail(`report: ${error}`));
});
// A key that arrives later (the bot shared a new session) decrypts the event again.
client.on(sdk.MatrixEventEvent.Decrypted, (event) => {
    report(event).catch((error) => fail(`report: ${error}`));
});

/** An encrypted DM the way Element creates one: a trusted private chat, the bot invited
 * with is_direct, encryption in the initial state, and the room in m.direct. */
async function openDm() {
    const { room_id: roomId } = await client.createRoom({
        preset: "trusted_private_chat",
        is_direct: true,
        invite: [opts.bot],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
    });
    const direct = client.getAccountData("m.direct")?.getContent() ?? {};
    direct[opts.bot] = [...(direct[opts.bot] ?? []), roomId];
    await client.setAccountData("m.direct", direct);
    dmRoomId = roomId;
    // Element sends only once the other side has joined; so do we (bounded by the test).
    for (;;) {
        const room = client.getRoom(roomId);
        if (room?.getMember(opts.bot)?.membership === "join") break;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    emit({ event: "dm", room_id: roomId });
}

async function send(text) {
    const { event_id: eventId } = await client.sendEvent(dmRoomId, "m.room.message", { msgtype: "m.text", body: text });
    emit({ event: "sent", event_id: eventId, body: text });
}

const VERIFY_TIMEOUT_MS = 60_000;

/** Resolves once ``request`` reaches ``phase`` (or later); rejects when it is cancelled. */
function reachPhase(request, phase) {
    return new Promise((resolve, reject) => {
        const check = () => {
            if (request.phase === VerificationPhase.Cancelled) {
                request.off(VerificationRequestEvent.Change, check);
                reject(new Error(`cancelled: ${request.cancellationCode ?? "?"}`));
            } else if (request.phase >= phase) {
                request.off(VerificationRequestEvent.Change, check);
                resolve();
            }
        };
        request.on(VerificationRequestEvent.Change, check);
        check();
    });
}

/** The user verification Element starts from the bot's profile, in the DM: request, wait
 * for ready, start SAS, confirm the emoji (a test has no eyes), wait for done. */
async function verifyBot() {
    const started = Date.now();
    const request = await crypto.requestVerificationDM(opts.bot, dmRoomId);
    const flow = (async () => {
        await reachPhase(request, VerificationPhase.Ready);
        const verifier = await request.startVerification("m.sas.v1");
        let emoji = null;
        verifier.on(VerifierEvent.ShowSas, (sas) => {
            emoji = sas.sas.emoji?.map(([symbol]) => symbol).join("") ?? null;
            sas.confirm().catch((error) => fail(`confirm: ${error}`));
        });
        await verifier.verify();
        await reachPhase(request, VerificationPhase.Done);
        return emoji;
    })();
    let timer;
    const timeout = new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no verification within ${VERIFY_TIMEOUT_MS} ms (phase ${request.phase})`)), VERIFY_TIMEOUT_MS);
    });
    try {
        const emoji = await Promise.race([flow, timeout]);
        const doneSeconds = (Date.now() - started) / 1000;
        // The SDK signs the bot's master key with the member's user-signing key after
        // "done" and counts the identity verified once it has that signature back from
        // the homeserver: a moment later, as Element's shield turns.
        let status = await crypto.getUserVerificationStatus(opts.bot);
        for (let tries = 0; !status.isVerified() && tries < 75; tries++) {
            await new Promise((resolve) => setTimeout(resolve, 200));
            status = await crypto.getUserVerificationStatus(opts.bot);
        }
        emit({
            event: "verified",
            seconds: doneSeconds,
            verified_after: (Date.now() - started) / 1000,
            emoji,
            is_verified: status.isVerified(),
            cross_signing_verified: status.isCrossSigningVerified(),
        });
    } finally {
        clearTimeout(timer);
    }
}

async function handle(line) {
    const [command, ...rest] = line.trim().split(" ");
    if (command === "dm") await openDm();
    else if (command === "send") await send(rest.join(" "));
    else if (command === "verify") await verifyBot();
    else if (command === "quit") {
        client.stopClient();
        await client.logout(true).catch(() => {});
        emit({ event: "bye" });
        process.exit(0);
    } else if (command) fail(`unknown command ${command}`);
}

// One command at a time, in order; stdin closing (the test ended) stops the member.
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
    try {
        await handle(line);
    } catch (error) {
        fail(`${line.trim()}: ${error?.message ?? error}`);
    }
}
client.stopClient();
process.exit(0);
