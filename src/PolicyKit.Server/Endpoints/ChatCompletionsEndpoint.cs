using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using PolicyKit.Server.Protocol;

namespace PolicyKit.Server.Endpoints;

/// <summary>
/// <c>POST /v1/chat/completions</c> over the <see cref="IChatClient"/> the host registers: the request's messages and
/// settings become <see cref="ChatOptions"/> (PolicyKit's under <see cref="PolicyKitChatOptions"/> keys), and its
/// answer or stream of updates becomes OpenAI's <c>chat.completion</c> or <c>chat.completion.chunk</c> events.
/// </summary>
internal sealed class ChatCompletionsEndpoint(IChatClient chat, ServedModels models, GenerationGate gate, ServerMetrics metrics,
    ILogger<ChatCompletionsEndpoint> logger)
{
    public Task HandleAsync(HttpContext context) => RequestPipeline.RunAsync(context, logger, "messages", async () =>
    {
        var request = ChatCompletionRequest.Parse(await RequestPipeline.ReadBodyAsync(context));
        var options = ToChatOptions(request, models.PolicyFor(request));
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var aborted = context.RequestAborted;
        await RequestPipeline.GenerateAsync(gate, metrics, aborted, () => request.Stream
            ? StreamAsync(context.Response, request, options, id, created, aborted)
            : AnswerAsync(context.Response, request, options, id, created, aborted));
    });

    internal static ChatOptions ToChatOptions(GenerationRequest request, string? policy)
    {
        var options = new ChatOptions
        {
            ModelId = request.Model,
            MaxOutputTokens = request.MaxTokens,
            Temperature = (float?)request.Temperature,
            Seed = request.Seed,
            StopSequences = request.Stop.Count > 0 ? [.. request.Stop] : null,
            AdditionalProperties = [],
        };
        if (policy is not null) options.AdditionalProperties[PolicyKitChatOptions.Policy] = policy;
        if (request.Steps is int steps) options.AdditionalProperties[PolicyKitChatOptions.Steps] = steps;
        if (request.BlockLength is int blockLength) options.AdditionalProperties[PolicyKitChatOptions.BlockLength] = blockLength;
        if (request.Threshold is double threshold) options.AdditionalProperties[PolicyKitChatOptions.Threshold] = threshold;
        return options;
    }

    private async Task AnswerAsync(HttpResponse response, ChatCompletionRequest request, ChatOptions options, string id, long created, CancellationToken aborted)
    {
        var answer = await chat.GetResponseAsync(request.Messages, options, aborted);
        var (text, stopped) = StopSequences.Cut(answer.Text, request.Stop);
        await JsonResponse.WriteAsync(response, StatusCodes.Status200OK, new
        {
            id,
            @object = "chat.completion",
            created,
            model = request.Model,
            system_fingerprint = (string?)null,
            choices = new[]
            {
                new
                {
                    index = 0,
                    message = new { role = "assistant", content = text, refusal = (string?)null },
                    logprobs = (object?)null,
                    finish_reason = stopped ? "stop" : FinishReason(answer.FinishReason),
                },
            },
            usage = Usage(answer.Usage),
        });
    }

    private async Task StreamAsync(HttpResponse response, ChatCompletionRequest request, ChatOptions options, string id, long created, CancellationToken aborted)
    {
        // Cancelled on a stop sequence too, so the generation ends as soon as its answer is complete.
        using var generation = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        await using var updates = chat.GetStreamingResponseAsync(request.Messages, options, generation.Token).GetAsyncEnumerator(generation.Token);
        // The first update before the headers: a request the chat client refuses still gets its 400.
        bool more = await updates.MoveNextAsync();
        ServerSentEvents.Start(response);
        await ServerSentEvents.DataAsync(response, Chunk(id, created, request.Model, new { role = "assistant", content = "" }, null), aborted);

        var filter = new StopSequenceFilter(request.Stop);
        string? finish = null;
        UsageDetails? usage = null;
        while (more)
        {
            var update = updates.Current;
            var ready = filter.Push(update.Text);
            if (ready.Length > 0)
                await ServerSentEvents.DataAsync(response, Chunk(id, created, request.Model, new { content = ready }, null), aborted);
            if (filter.Stopped)
            {
                finish = "stop";
                await generation.CancelAsync();
                break;
            }
            if (update.FinishReason is { } reason) finish = FinishReason(reason);
            if (update.Contents.OfType<UsageContent>().LastOrDefault() is { } reported) usage = reported.Details;
            more = await updates.MoveNextAsync();
        }
        var rest = filter.Flush();
        if (rest.Length > 0)
            await ServerSentEvents.DataAsync(response, Chunk(id, created, request.Model, new { content = rest }, null), aborted);

        await ServerSentEvents.DataAsync(response, Chunk(id, created, request.Model, new { }, finish ?? "stop"), aborted);
        if (request.IncludeUsage)
            await ServerSentEvents.DataAsync(response, new
            {
                id, @object = "chat.completion.chunk", created, model = request.Model, system_fingerprint = (string?)null,
                choices = Array.Empty<object>(), usage = Usage(usage),
            }, aborted);
        await ServerSentEvents.DoneAsync(response, aborted);
    }

    private static object Chunk(string id, long created, string model, object delta, string? finishReason) => new
    {
        id,
        @object = "chat.completion.chunk",
        created,
        model,
        system_fingerprint = (string?)null,
        choices = new[] { new { index = 0, delta, logprobs = (object?)null, finish_reason = finishReason } },
        usage = (object?)null,
    };

    /// <summary>The token counts as the chat client reports them (0 where it reports none).</summary>
    internal static object Usage(UsageDetails? usage)
    {
        long prompt = usage?.InputTokenCount ?? 0, completion = usage?.OutputTokenCount ?? 0;
        return new { prompt_tokens = prompt, completion_tokens = completion, total_tokens = usage?.TotalTokenCount ?? prompt + completion };
    }

    private static string FinishReason(ChatFinishReason? reason) =>
        reason is null || reason == ChatFinishReason.Stop ? "stop"
        : reason == ChatFinishReason.Length ? "length"
        : reason == ChatFinishReason.ToolCalls ? "tool_calls"
        : reason == ChatFinishReason.ContentFilter ? "content_filter"
        : reason.Value.Value;
}
