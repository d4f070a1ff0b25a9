using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using PolicyKit.Hosting;
using PolicyKit.Server.Protocol;

namespace PolicyKit.Server.Endpoints;

/// <summary>What every generation endpoint does around its own work: read the body, admit the request, count how it ended, and turn failures into OpenAI-style errors.</summary>
internal static class RequestPipeline
{
    public static async Task<JsonElement> ReadBodyAsync(HttpContext context)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw OpenAIRequestException.BadRequest(null, $"We could not parse the JSON body of your request: {e.Message}");
        }
    }

    /// <summary>
    /// Runs one generation inside a slot of <paramref name="gate"/>. The slot, and the in-flight count, are held
    /// until <paramref name="generate"/> has returned, so a cancelled generation has ended (and freed its cache
    /// session) before the count drops. A generator whose batch queue is full (<see cref="GenerationQueueFullException"/>)
    /// makes it a 429 like the gate's own.
    /// </summary>
    public static async Task GenerateAsync(GenerationGate gate, ServerMetrics metrics, CancellationToken aborted, Func<Task> generate)
    {
        using var admission = await gate.EnterAsync(aborted);
        try
        {
            await generate();
            metrics.OnCompleted();
        }
        catch when (aborted.IsCancellationRequested)
        {
            // However the client's leaving surfaced (the sampler's cancellation, a write to a closed connection).
            metrics.OnCancelled();
            throw;
        }
        catch (GenerationQueueFullException e)
        {
            // The generator's own bound (PolicyKit:Batching): every batch row taken and its queue full.
            metrics.OnRejected();
            throw new OpenAIRequestException(StatusCodes.Status429TooManyRequests, e.Message, type: "rate_limit_exceeded", code: "queue_full");
        }
        catch
        {
            metrics.OnFailed();
            throw;
        }
    }

    /// <summary>Runs an endpoint; <paramref name="inputField"/> is the field an input the engine refuses is blamed on (a prompt too long).</summary>
    public static async Task RunAsync(HttpContext context, ILogger logger, string inputField, Func<Task> handle)
    {
        var response = context.Response;
        try
        {
            await handle();
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away (whatever that surfaced as): there is no one to answer.
        }
        catch (OpenAIRequestException e) when (!response.HasStarted)
        {
            if (e.StatusCode == StatusCodes.Status429TooManyRequests) response.Headers.RetryAfter = "1";
            await JsonResponse.WriteAsync(response, e.StatusCode, e.ToBody());
        }
        catch (ArgumentException e) when (!response.HasStarted)
        {
            // The engine or chat client refused the settings or the input (e.g. a prompt longer than the model allows).
            var refused = OpenAIRequestException.BadRequest(FieldOf(e.ParamName, inputField), GenerationSettings.WithoutParameterSuffix(e.Message));
            await JsonResponse.WriteAsync(response, refused.StatusCode, refused.ToBody());
        }
        catch (Exception e)
        {
            logger.LogError(e, "{Path} failed", context.Request.Path);
            var body = new { error = new { message = $"The server failed to generate: {e.Message}", type = "server_error", param = (string?)null, code = (string?)null } };
            if (!response.HasStarted)
                await JsonResponse.WriteAsync(response, StatusCodes.Status500InternalServerError, body);
            else if (response.ContentType == "text/event-stream")
                await ServerSentEvents.DataAsync(response, body, CancellationToken.None);  // headers are gone: an error event, no [DONE]
        }
    }

    private static readonly HashSet<string> RequestFields =
        ["max_tokens", "block_length", "steps", "threshold", "temperature", "seed", "policy", "stop"];

    private static string FieldOf(string? parameter, string inputField)
    {
        var field = GenerationSettings.RequestField(parameter);
        if (field == "name") return "policy";  // the generator's unknown-policy error
        return RequestFields.Contains(field) ? field : inputField;
    }
}
