using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Diffusion.Runtime;
using PolicyKit.Hosting;
using PolicyKit.Server;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// <c>policykit serve</c>: the OpenAI-compatible server (POST /v1/chat/completions, POST /v1/completions,
/// GET /v1/models, GET /health) on Kestrel, until Ctrl+C or SIGTERM.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, ';'-separated (port 0: a free port).", DefaultValueFactory = _ => "http://127.0.0.1:8000" };
        var policy = new Option<string>("--policy") { Description = "Cache policy of requests that name none (see `policykit policies`).", DefaultValueFactory = _ => Policies.Default };
        var genLength = new Option<int>("--gen-length") { Description = "Default answer length in tokens (a request's max_tokens overrides it).", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "Default denoising steps for --gen-length tokens (scaled with a request's max_tokens).", DefaultValueFactory = _ => 32 };
        var blockLength = new Option<int>("--block-length") { Description = "Default semi-autoregressive block length (LLaDA models).", DefaultValueFactory = _ => 16 };
        var threshold = new Option<double?>("--threshold") { Description = "Default Fast-dLLM threshold decoding at this confidence, in (0, 1]." };
        var maxConcurrency = new Option<int>("--max-concurrency") { Description = "Requests admitted at once (generating or streaming); more wait in the queue.", DefaultValueFactory = _ => 16 };
        var maxBatch = new Option<int>("--max-batch") { Description = "Requests whose denoising steps run together (step-level batching; 1 = one generation at a time).", DefaultValueFactory = _ => 16 };
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests that may wait for a slot; more get 429.", DefaultValueFactory = _ => 64 };

        var command = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (chat completions with streaming, completions, models, health).")
        {
            model, urls, policy, genLength, steps, blockLength, threshold, device, maxConcurrency, maxBatch, maxQueue,
        };
        command.SetAction((parse, _) => CliErrors.Guard(async ct =>
        {
            var directory = parse.GetValue(model)?.FullName ?? ModelLocator.DefaultModelDirectory();
            if (!Directory.Exists(directory)) throw new ArgumentException($"--model: directory not found: {directory}");
            var defaultPolicy = parse.GetValue(policy)!;
            Policies.Create(defaultPolicy);  // an unknown name fails here, naming --policy
            TorchRuntime.EnsureLoaded();

            await using var app = PolicyKitServerApp.Build(parse.GetValue(urls)!, options =>
            {
                options.ModelDirectory = directory;
                options.Device = parse.GetValue(device)!;
                options.DefaultPolicy = defaultPolicy;
                options.Sampler.GenLength = parse.GetValue(genLength);
                options.Sampler.Steps = parse.GetValue(steps);
                options.Sampler.BlockLength = parse.GetValue(blockLength);
                options.Sampler.Threshold = parse.GetValue(threshold);
                options.Batching.MaxBatchSize = parse.GetValue(maxBatch);
            }, server =>
            {
                server.MaxConcurrentRequests = parse.GetValue(maxConcurrency);
                server.MaxQueuedRequests = parse.GetValue(maxQueue);
            });
            try
            {
                // Load the model and check every setting before listening, so a bad one ends here in one line; one
                // one-token generation pays LibTorch's lazy start-up, which would otherwise land on the first request.
                var generator = app.Services.GetRequiredService<IDiffusionGenerator>();
                var warmUp = new GenerationSettings(MaxTokens: 1, Steps: 1, BlockLength: null, Threshold: null, Temperature: null, Seed: null);
                await generator.GenerateAsync("a", warmUp.Apply(generator.DefaultOptions, out int _), "none", ct);
                await app.StartAsync(ct);
            }
            catch (Microsoft.Extensions.Options.OptionsValidationException e)
            {
                throw new ArgumentException(string.Join(" ", e.Failures));
            }
            var served = app.Services.GetRequiredService<ServedModels>();
            Console.WriteLine($"policykit serve: {string.Join(", ", app.Urls)}  model {served.Id} ({directory}), default policy {served.DefaultPolicy}");
            Console.WriteLine($"  POST /v1/chat/completions  POST /v1/completions  GET /v1/models  GET /health   (Ctrl+C stops)");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C or SIGTERM: stop listening, let running requests end (they are cancelled with the host).
            }
            await app.StopAsync(CancellationToken.None);
            return 0;
        }));
        return command;
    }
}
