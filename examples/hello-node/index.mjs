// Alto example: the smallest Node.js function (handler `index.handler`).

export const handler = async (event, context) => {
  const name = event?.name || 'world';
  console.log(`hello-node: greeting ${name} (request ${context.awsRequestId})`);
  return { message: `Hello, ${name}!`, runtime: 'nodejs' };
};
