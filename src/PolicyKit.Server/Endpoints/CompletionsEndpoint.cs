using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using PolicyKit.Diffusion.Model;
using PolicyKit.Hosting;
using PolicyKit.Server.Protocol;

namespace PolicyKit.Server.Endpoints;

/// <summary>
/// <c>POST /v1/completions</c>: the raw prompt straight to <see cref="IDiffusionGenerator"/>, no chat formatting.
/// With <c>stream: true</c> the answer comes as OpenAI's streaming events too, in one text event once it is
/// complete (the generator reports no partial answers).
/// </summary>
internal sealed class CompletionsEndpoint(IDiffusionGenerator generator, DiffusionModel model, ServedModels models, GenerationGate gate,
    ServerMetrics metrics, ILogger<CompletionsEndpoint> logger)
{
    public Task HandleAsync(HttpContext context) => RequestPipeline.RunAsync(context, logger, "prompt", async () =>
    {
        var request = CompletionRequest.Parse(await RequestPipeline.ReadBodyAsync(context));
        var policy = models.PolicyFor(request);
        var options = request.Settings.Apply(generator.DefaultOptions, out int maxTokens);
        var id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var aborted = context.RequestAborted;
        var response = context.Response;
        await RequestPipeline.GenerateAsync(gate, metrics, aborted, async () =>
        {
            var result = await generator.GenerateAsync(request.Prompt, options, policy, aborted);
            var answer = GeneratedText.From(model, result.TokenIds, maxTokens, request.Stop);
            int promptTokens = model.Tokenizer.Encode(request.Prompt).Length;
            var usage = new { prompt_tokens = promptTokens, completion_tokens = answer.CompletionTokens, total_tokens = promptTokens + answer.CompletionTokens };
            if (!request.Stream)
            {
                await JsonResponse.WriteAsync(response, StatusCodes.Status200OK, new
                {
                    id, @object = "text_completion", created, model = request.Model, system_fingerprint = (string?)null,
                    choices = new[] { new { text = answer.Text, index = 0, logprobs = (object?)null, finish_reason = answer.FinishReason } },
                    usage,
                });
                return;
            }
            ServerSentEvents.Start(response);
            foreach (var (text, finish) in new[] { (answer.Text, (string?)null), ("", answer.FinishReason) })
                await ServerSentEvents.DataAsync(response, new
                {
                    id, @object = "text_completion", created, model = request.Model, system_fingerprint = (string?)null,
                    choices = new[] { new { text, index = 0, logprobs = (object?)null, finish_reason = finish } },
                    usage = (object?)null,
                }, aborted);
            if (request.IncludeUsage)
                await ServerSentEvents.DataAsync(response, new
                {
                    id, @object = "text_completion", created, model = request.Model, system_fingerprint = (string?)null,
                    choices = Array.Empty<object>(), usage,
                }, aborted);
            await ServerSentEvents.DoneAsync(response, aborted);
        });
    });
}
