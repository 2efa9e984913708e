// The guide's Example 2 ("Captioning Images", steps 2 to 5), in JavaScript with the official openai
// package, step for step. df is a list of rows with `title` and `primary_image` (an image URL: http,
// https or data:), as in the Amazon furniture dataset the guide uses. Used by the end-to-end tests.
import { readFileSync, writeFileSync, createReadStream } from 'node:fs';

export const caption_system_prompt = `
Your goal is to generate short, descriptive captions for images of items.
You will be provided with an item image and the name of that item and you will output a caption that captures the most important information about the item.
If there are multiple items depicted, refer to the name provided to understand which item you should describe.
Your generated caption should be short (1 sentence), and include only the most important information about the item.
The most important information could be: the type of item, the style (if mentioned), the material or color if especially relevant and/or any distinctive features.
Keep it short and to the point.
`;

// Step 2: test the captioning function.
export async function get_caption(client, img_url, title) {
  const response = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    temperature: 0.2,
    max_tokens: 300,
    messages: [
      { role: 'system', content: caption_system_prompt },
      {
        role: 'user',
        content: [
          { type: 'text', text: title },
          { type: 'image_url', image_url: { url: img_url } },
        ],
      },
    ],
  });
  return response.choices[0].message.content;
}

// Steps 3 to 5. Returns the batch as finally retrieved and the parsed result lines.
export async function run_batch(client, df, { dir, pollMs = 1000, log = console.log } = {}) {
  // Step 3: prepare the batch file.
  const tasks = df.map((row, index) => ({
    custom_id: `task-${index}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'gpt-4o-mini',
      temperature: 0.2,
      max_tokens: 300,
      messages: [
        { role: 'system', content: caption_system_prompt },
        {
          role: 'user',
          content: [
            { type: 'text', text: row.title },
            { type: 'image_url', image_url: { url: row.primary_image } },
          ],
        },
      ],
    },
  }));
  const file_name = `${dir}/batch_tasks_furniture.jsonl`;
  writeFileSync(file_name, tasks.map((obj) => JSON.stringify(obj) + '\n').join(''));

  // Step 4: upload the file and create the batch job.
  const batch_file = await client.files.create({ file: createReadStream(file_name), purpose: 'batch' });
  let batch_job = await client.batches.create({
    input_file_id: batch_file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch_job.status)) {
    await new Promise((r) => setTimeout(r, pollMs));
    batch_job = await client.batches.retrieve(batch_job.id);
    const c = batch_job.request_counts;
    log(`batch ${batch_job.id}: ${batch_job.status} ${c.completed + c.failed}/${c.total}`);
  }

  // Step 5: retrieve the results and match them to the inputs by custom_id.
  const result_file_id = batch_job.output_file_id;
  const result = Buffer.from(await (await client.files.content(result_file_id)).arrayBuffer());
  const result_file_name = `${dir}/batch_job_results_furniture.jsonl`;
  writeFileSync(result_file_name, result);
  const results = readFileSync(result_file_name, 'utf8').split('\n').filter((l) => l.trim())
    .map((line) => JSON.parse(line.trim()));
  const matched = results.map((res) => {
    const task_id = res.custom_id;
    const index = task_id.split('-').at(-1);
    const caption = res.response.body.choices[0].message.content;
    const item = df[Number(index)];
    return { title: item.title, image: item.primary_image, caption, usage: res.response.body.usage };
  });
  return { batch_job, batch_file, results, matched };
}
