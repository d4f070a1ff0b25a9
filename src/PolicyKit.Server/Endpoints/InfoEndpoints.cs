using Microsoft.AspNetCore.Http;
using PolicyKit.Server.Protocol;

namespace PolicyKit.Server.Endpoints;

/// <summary><c>GET /v1/models</c>, <c>GET /v1/models/{id}</c> and <c>GET /health</c>.</summary>
internal static class InfoEndpoints
{
    public static Task ModelsAsync(HttpContext context, ServedModels models) =>
        JsonResponse.WriteAsync(context.Response, StatusCodes.Status200OK,
            new { @object = "list", data = models.Ids.Select(id => Model(id, models)).ToArray() });

    public static Task ModelAsync(HttpContext context, string id, ServedModels models) =>
        models.Ids.Contains(id)
            ? JsonResponse.WriteAsync(context.Response, StatusCodes.Status200OK, Model(id, models))
            : NotFound(context, $"The model '{id}' does not exist.", "model_not_found");

    /// <summary>Liveness and load: generations in flight and waiting, and how the finished ones ended.</summary>
    public static Task HealthAsync(HttpContext context, ServedModels models, GenerationGate gate, ServerMetrics metrics) =>
        JsonResponse.WriteAsync(context.Response, StatusCodes.Status200OK, new
        {
            status = "ok",
            model = models.Id,
            default_policy = models.DefaultPolicy,
            in_flight = metrics.InFlight,
            queued = gate.Queued,
            completed = metrics.Completed,
            cancelled = metrics.Cancelled,
            failed = metrics.Failed,
            rejected = metrics.Rejected,
        });

    public static Task NotFound(HttpContext context, string message, string code = "unknown_url") =>
        JsonResponse.WriteAsync(context.Response, StatusCodes.Status404NotFound,
            new OpenAIRequestException(StatusCodes.Status404NotFound, message, code: code).ToBody());

    private static object Model(string id, ServedModels models) => new { id, @object = "model", created = models.Created, owned_by = "policykit" };
}
