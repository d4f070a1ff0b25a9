using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PolicyKit.Server;
using PolicyKit.Server.Endpoints;

// The conventional namespace, so AddPolicyKitServer and MapPolicyKitOpenAI show up next to the other Add*/Map* calls.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers and maps PolicyKit's OpenAI-compatible endpoints.</summary>
public static class PolicyKitServerExtensions
{
    /// <summary>
    /// Adds what the endpoints need besides <c>AddPolicyKit</c> and an <see cref="IChatClient"/>: the request gate
    /// (bounded concurrency and queue), the metrics and the served model ids.
    /// </summary>
    public static IServiceCollection AddPolicyKitServer(this IServiceCollection services, Action<PolicyKitServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<PolicyKitServerOptions>()
            .Validate(o => o.MaxConcurrentRequests >= 1, "PolicyKit:Server:MaxConcurrentRequests must be at least 1.")
            .Validate(o => o.MaxQueuedRequests >= 0, "PolicyKit:Server:MaxQueuedRequests must be at least 0.")
            .ValidateOnStart();
        if (configure is not null) options.Configure(configure);
        services.TryAddSingleton<ServerMetrics>();
        services.TryAddSingleton<GenerationGate>();
        services.TryAddSingleton<ServedModels>();
        services.TryAddSingleton<ChatCompletionsEndpoint>();
        services.TryAddSingleton<CompletionsEndpoint>();
        return services;
    }

    /// <summary>
    /// Maps <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>, <c>GET /v1/models</c>,
    /// <c>GET /v1/models/{id}</c> and <c>GET /health</c>, and an OpenAI-style 404 for any other <c>/v1/</c> path.
    /// </summary>
    public static IEndpointRouteBuilder MapPolicyKitOpenAI(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapPost("/v1/chat/completions", (HttpContext context, ChatCompletionsEndpoint chat) => chat.HandleAsync(context));
        endpoints.MapPost("/v1/completions", (HttpContext context, CompletionsEndpoint completions) => completions.HandleAsync(context));
        endpoints.MapGet("/v1/models", (HttpContext context, ServedModels models) => InfoEndpoints.ModelsAsync(context, models));
        endpoints.MapGet("/v1/models/{**id}", (HttpContext context, string id, ServedModels models) => InfoEndpoints.ModelAsync(context, id, models));
        endpoints.MapGet("/health", (HttpContext context, ServedModels models, GenerationGate gate, ServerMetrics metrics) =>
            InfoEndpoints.HealthAsync(context, models, gate, metrics));
        endpoints.MapFallback("/v1/{**path}", context =>
            InfoEndpoints.NotFound(context, $"Unknown request URL: {context.Request.Method} {context.Request.Path}."));
        return endpoints;
    }
}
