// The Vercel AI SDK against hum: streamText and generateText through the OpenAI
// surface, then DefaultChatTransport through /api/chat with a dropped
// connection mid-bloom and a resume. Prints one JSON line for the Python test.
import { load } from "./resolve.mjs";

const { streamText, generateText, DefaultChatTransport, readUIMessageStream } = await load("ai");
const { createOpenAICompatible } = await load("@ai-sdk/openai-compatible");

const url = process.env.HUM_URL;
const hum = createOpenAICompatible({ name: "hum", baseURL: `${url}/v1`, includeUsage: true });
const out = {};

const streamed = streamText({ model: hum("scripted"), prompt: "stream to me" });
let text = "";
for await (const delta of streamed.textStream) text += delta;
out.streamText = { text, usage: await streamed.usage, finishReason: await streamed.finishReason };

const generated = await generateText({ model: hum("any-model-name"), prompt: "generate for me" });
out.generateText = { text: generated.text, usage: generated.usage };

const transport = new DefaultChatTransport({ api: `${url}/api/chat` });
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
out.chat = {
  before,
  resumedText: message.parts.filter((p) => p.type === "text").map((p) => p.text).join(""),
  metadata: message.metadata,
};
out.chat.afterFinish = (await transport.reconnectToStream({ chatId })) === null;
console.log(JSON.stringify(out));
