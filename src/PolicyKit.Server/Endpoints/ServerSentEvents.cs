using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace PolicyKit.Server.Endpoints;

/// <summary>OpenAI's streaming wire format: <c>data: {json}</c> events, each flushed at once, ended by <c>data: [DONE]</c>.</summary>
internal static class ServerSentEvents
{
    public static void Start(HttpResponse response)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    public static async Task DataAsync(HttpResponse response, object payload, CancellationToken cancellationToken)
    {
        await response.WriteAsync("data: " + JsonSerializer.Serialize(payload) + "\n\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    public static Task DoneAsync(HttpResponse response, CancellationToken cancellationToken) =>
        response.WriteAsync("data: [DONE]\n\n", cancellationToken);
}
