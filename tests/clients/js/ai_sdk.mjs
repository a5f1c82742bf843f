// The Vercel AI SDK against hum, one case per run (HUM_CASE). Prints one JSON line for the Python test.
//   basic    streamText and generateText through the OpenAI surface, then
//            DefaultChatTransport through /api/chat with a dropped connection mid-bloom and a resume
//   note     a chat whose second turn no longer fits the local model's window: hum's note is a data part
//   reading  a chat whose first turn is a long read: its notes are one data part, updated in place
//   history  a chat app opening a hum homed on another device: its history, the resume of a
//            bloom the home's restart interrupted, a follow-up
//   typo     a sigil one character off, on every /api/chat route
//   approval a chat on the phone whose hum (on the laptop) asks before it runs a command:
//            the ask is a tool part awaiting approval, answered with addToolApprovalResponse
import { load } from "./resolve.mjs";

const {
  streamText, generateText, AbstractChat, DefaultChatTransport, readUIMessageStream, validateUIMessages,
  lastAssistantMessageIsCompleteWithApprovalResponses,
} = await load("ai");
const { createOpenAICompatible } = await load("@ai-sdk/openai-compatible");

const url = process.env.HUM_URL;

// What `useChat` keeps in React state, kept in plain memory: the same AbstractChat underneath.
class MemoryState {
  constructor(messages = []) {
    this.messages = messages;
    this.status = "ready";
    this.error = undefined;
  }
  pushMessage(message) {
    this.messages = [...this.messages, message];
  }
  popMessage() {
    this.messages = this.messages.slice(0, -1);
  }
  replaceMessage(index, message) {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)];
  }
  snapshot(thing) {
    return structuredClone(thing);
  }
}

class MemoryChat extends AbstractChat {
  constructor({ messages, ...init }) {
    super({ ...init, state: new MemoryState(messages) });
  }
}

const chatApi = () => new DefaultChatTransport({ api: `${url}/api/chat` });
const textOf = (message) => message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
const brief = (message) => ({ id: message.id, role: message.role, types: message.parts.map((p) => p.type), text: textOf(message), parts: message.parts });

async function basic() {
  const hum = createOpenAICompatible({ name: "hum", baseURL: `${url}/v1`, includeUsage: true });
  const out = {};
  const streamed = streamText({ model: hum("scripted"), prompt: "stream to me" });
  let text = "";
  for await (const delta of streamed.textStream) text += delta;
  out.streamText = { text, usage: await streamed.usage, finishReason: await streamed.finishReason };

  const generated = await generateText({ model: hum("any-model-name"), prompt: "generate for me" });
  out.generateText = { text: generated.text, usage: generated.usage };

  const transport = chatApi();
  const chatId = "phone-chat";
  const abort = new AbortController();
  const first = await transport.sendMessages({
    chatId,
    messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "walk with me" }] }],
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: abort.signal,
  });
  const reader = first.getReader();
  const before = [];
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    before.push(value.type);
    if (value.type === "text-delta") break; // mid-bloom: drop the connection
  }
  abort.abort();
  await reader.cancel().catch(() => {});

  const resumed = await transport.reconnectToStream({ chatId });
  let message = null;
  for await (const m of readUIMessageStream({ stream: resumed })) message = m;
  out.chat = { before, resumedText: textOf(message), metadata: message.metadata };
  out.chat.afterFinish = (await transport.reconnectToStream({ chatId })) === null;
  return out;
}

async function note() {
  const chat = new MemoryChat({ id: "lighthouse", transport: chatApi() });
  await chat.sendMessage({ text: process.env.HUM_FIRST_TEXT });
  await chat.sendMessage({ text: "What is the capital of France?" });
  const history = await (await fetch(`${url}/api/chat/lighthouse/messages`)).json();
  return {
    status: chat.status,
    answer: brief(chat.messages.at(-1)),
    history: (await validateUIMessages({ messages: history.messages })).map(brief),
  };
}

async function reading() {
  const seen = []; // every data part as it arrived (what a chat app's onData sees)
  const chat = new MemoryChat({ id: "reading", transport: chatApi(), onData: (part) => seen.push(structuredClone(part)) });
  await chat.sendMessage({ text: process.env.HUM_FIRST_TEXT });
  const history = await (await fetch(`${url}/api/chat/reading/messages`)).json();
  return {
    status: chat.status,
    error: chat.error?.message ?? null,
    seen,
    answer: brief(chat.messages.at(-1)),
    history: (await validateUIMessages({ messages: history.messages })).map(brief),
  };
}

async function history() {
  const sigil = process.env.HUM_SIGIL;
  const res = await fetch(`${url}/api/chat/${sigil}/messages`);
  const { messages } = await res.json();
  const opened = (await validateUIMessages({ messages })).map(brief);

  // useChat({ id, messages, resume: true }) on mount
  const errors = [];
  const chat = new MemoryChat({ id: sigil, messages, transport: chatApi(), onError: (e) => errors.push(e.message) });
  await chat.resumeStream();
  const resumed = { status: chat.status, errors, messages: chat.messages.map(brief) };
  await chat.sendMessage({ text: "once more, from the phone" });
  const followUp = { status: chat.status, messages: chat.messages.map(brief) };

  return { opened, resumed, followUp };
}

async function typo() {
  const sigil = process.env.HUM_SIGIL;
  // one character off: every route says so instead of starting a new chat
  const typo = sigil.slice(0, -1) + (sigil.endsWith("0") ? "1" : "0");
  const typoHistory = await fetch(`${url}/api/chat/${typo}/messages`);
  const typos = { history: { status: typoHistory.status, body: await typoHistory.json() } };
  for (const [name, call] of [
    ["post", () => chatApi().sendMessages({ chatId: typo, messages: [{ id: "t1", role: "user", parts: [{ type: "text", text: "hi" }] }], trigger: "submit-message", messageId: undefined })],
    ["resume", () => chatApi().reconnectToStream({ chatId: typo })],
  ]) {
    try {
      const stream = await call();
      typos[name] = { answered: stream === null ? "204" : "a stream" };
    } catch (e) {
      typos[name] = { error: e.message, status: e.statusCode };
    }
  }
  return typos;
}

// How long the approval case waits for the chat's automatic follow-up request to finish.
const SETTLE_MS = 20000;

async function approval() {
  const sigil = process.env.HUM_SIGIL;
  const { messages } = await (await fetch(`${url}/api/chat/${sigil}/messages`)).json();
  const history = (await validateUIMessages({ messages })).map(brief);
  const chat = new MemoryChat({
    id: sigil, messages, transport: chatApi(),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  });
  await chat.sendMessage({ text: "and once more, from the phone" });
  const asked = brief(chat.messages.at(-1));
  const part = chat.messages.at(-1).parts.find((p) => p.type === "dynamic-tool");
  const statusAtAsk = chat.status;
  await chat.addToolApprovalResponse({ id: part.approval.id, approved: true });
  const deadline = Date.now() + SETTLE_MS;
  const tool = () => chat.messages.at(-1).parts.find((p) => p.type === "dynamic-tool");
  while (!(chat.status === "ready" && tool()?.state === "output-available" && chat.messages.at(-1).metadata?.usage)) {
    if (Date.now() > deadline) throw new Error(`the chat did not settle: ${chat.status} ${JSON.stringify(chat.messages.at(-1))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const after = await (await fetch(`${url}/api/chat/${sigil}/messages`)).json();
  return {
    history, asked, statusAtAsk, answered: brief(chat.messages.at(-1)), count: chat.messages.length,
    reopened: (await validateUIMessages({ messages: after.messages })).map(brief),
  };
}

const cases = { basic, note, reading, history, typo, approval };
console.log(JSON.stringify(await cases[process.env.HUM_CASE || "basic"]()));
