"""Alto example: the smallest Python function (handler `app.handler`)."""


def handler(event, context):
    name = event.get("name") if isinstance(event, dict) else None
    name = name or "world"
    print(f"hello-python: greeting {name} (request {context.aws_request_id})")
    return {"message": f"Hello, {name}!", "runtime": "python"}
