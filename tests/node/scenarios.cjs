// The Node SDK (4.x or 5.x, whichever node_modules the working directory has) against a live
// assistantd: a polled run, a function-call round trip, a streamed run, and a multipart upload.
// Run as `node ../scenarios.cjs MODEL_RUN MODEL_TOOL MODEL_STREAM` from tests/node/v4 or v5 with
// OPENAI_BASE_URL / OPENAI_API_KEY set; prints one JSON object with what it saw.
const path = require('node:path');
const { createRequire } = require('node:module');

const local = createRequire(path.join(process.cwd(), 'package.json'));
const OpenAI = local('openai');
const { toFile } = local('openai');
const { VERSION } = local('openai/version');
const major = Number(VERSION.split('.')[0]);

const client = new OpenAI({ maxRetries: 0 });
const [modelRun, modelTool, modelStream] = process.argv.slice(2);

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

function text(message) {
  return message.content.filter((p) => p.type === 'text').map((p) => p.text.value).join('');
}

async function replies(threadId, runId) {
  const page = await client.beta.threads.messages.list(threadId, { run_id: runId });
  return page.data.map((m) => ({ role: m.role, text: text(m), attachments: m.attachments }));
}

async function polledRun() {
  const assistant = await client.beta.assistants.create({ model: modelRun, instructions: 'Be brief.' });
  const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Hello?' }] });
  const run = await client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id });
  return { status: run.status, replies: await replies(thread.id, run.id) };
}

async function functionRoundTrip() {
  const assistant = await client.beta.assistants.create({ model: modelTool, tools: [WEATHER] });
  const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather in Paris?' }] });
  let run = await client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id });
  const required = run.status;
  const calls = run.required_action.submit_tool_outputs.tool_calls;
  const outputs = calls.map((call) => ({ tool_call_id: call.id, output: `Sunny in ${JSON.parse(call.function.arguments).city}` }));
  run = major >= 5
    ? await client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: thread.id, tool_outputs: outputs })
    : await client.beta.threads.runs.submitToolOutputsAndPoll(thread.id, run.id, { tool_outputs: outputs });
  return {
    required,
    calls: calls.map((c) => ({ name: c.function.name, arguments: JSON.parse(c.function.arguments) })),
    status: run.status,
    replies: await replies(thread.id, run.id),
  };
}

async function streamedRun() {
  const assistant = await client.beta.assistants.create({ model: modelStream });
  const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Stream, please.' }] });
  const deltas = [];
  const events = [];
  const stream = client.beta.threads.runs
    .stream(thread.id, { assistant_id: assistant.id })
    .on('textDelta', (delta) => deltas.push(delta.value))
    .on('event', (event) => events.push(event.event));
  const run = await stream.finalRun();
  const messages = await stream.finalMessages();
  return { status: run.status, deltas, events, final: messages.map(text) };
}

async function upload() {
  const file = await client.files.create({ file: await toFile(Buffer.from('node bytes'), 'node.txt'), purpose: 'assistants' });
  return { id: file.id, filename: file.filename, bytes: file.bytes };
}

(async () => {
  const result = { sdk: VERSION };
  result.run = await polledRun();
  result.function = await functionRoundTrip();
  result.stream = await streamedRun();
  result.upload = await upload();
  process.stdout.write(JSON.stringify(result));
})().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
