package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.LinkedHashMap;
import java.util.Map;

/** Handler "example.Hello::handleRequest": {"name":"Ada"} -> {"message":"Hello, Ada!","runtime":"java"}. */
public class Hello implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        Object name = event == null ? null : event.get("name");
        String who = name == null ? "world" : name.toString();
        context.getLogger().log("hello-java: greeting " + who + " (request " + context.getAwsRequestId() + ")");
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("message", "Hello, " + who + "!");
        out.put("runtime", "java");
        return out;
    }
}
