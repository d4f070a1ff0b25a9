using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PolicyKit.Hosting;
using PolicyKit.Server.Protocol;

namespace PolicyKit.Server;

/// <summary>
/// The model ids the server answers to: the model itself (<c>policykit-ref</c>: the server's default policy) and one
/// id per cache policy (<c>policykit-ref:dllm-cache</c>), so a client that can only set <c>model</c> still chooses
/// the policy. A request may also name it in PolicyKit's <c>policy</c> field.
/// </summary>
public sealed class ServedModels
{
    /// <summary>Separates the model id from a policy name in <c>model</c>.</summary>
    public const char PolicySeparator = ':';

    private readonly IServiceProviderIsKeyedService _keyed;

    public ServedModels(IOptions<PolicyKitServerOptions> server, IOptions<PolicyKitOptions> policyKit, PolicyCatalog catalog,
        IServiceProviderIsKeyedService keyed)
    {
        _keyed = keyed;
        Id = server.Value.ModelId is { Length: > 0 } id
            ? id
            : Path.GetFileName(Path.TrimEndingDirectorySeparator(policyKit.Value.ModelDirectory ?? "model")) is { Length: > 0 } name ? name : "model";
        DefaultPolicy = policyKit.Value.DefaultPolicy;
        Policies = catalog.Names.ToArray();
        Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    }

    /// <summary>The model's id.</summary>
    public string Id { get; }

    /// <summary>The policy a request that names none runs under.</summary>
    public string DefaultPolicy { get; }

    /// <summary>The catalog's policies, each served as <c>Id:policy</c>.</summary>
    public IReadOnlyList<string> Policies { get; }

    /// <summary>When the server started (Unix seconds), the models' <c>created</c>.</summary>
    public long Created { get; }

    /// <summary>Every id GET /v1/models lists.</summary>
    public IEnumerable<string> Ids => Policies.Select(p => $"{Id}{PolicySeparator}{p}").Prepend(Id);

    /// <summary>
    /// The policy a request runs under: its <c>policy</c> field, else the one <c>model</c> names, else null (the
    /// chat client's and generator's default, <see cref="DefaultPolicy"/>).
    /// </summary>
    /// <exception cref="OpenAIRequestException">404 for a model this server does not serve; 400 for an unknown or contradictory policy.</exception>
    public string? PolicyFor(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? fromModel = null;
        if (request.Model != Id)
        {
            int at = request.Model.LastIndexOf(PolicySeparator);
            if (at < 0 || request.Model[..at] != Id)
                throw new OpenAIRequestException(StatusCodes.Status404NotFound,
                    $"The model '{request.Model}' does not exist. This server serves '{Id}' and '{Id}{PolicySeparator}<policy>' (see GET /v1/models).",
                    "model", code: "model_not_found");
            fromModel = request.Model[(at + 1)..];
            Check(fromModel, "model");
        }
        if (request.Policy is { } policy)
        {
            Check(policy, "policy");
            if (fromModel is not null && fromModel != policy)
                throw OpenAIRequestException.BadRequest("policy", $"'policy' ({policy}) contradicts the policy the model id names ({fromModel}).");
            return policy;
        }
        return fromModel;
    }

    private void Check(string policy, string field)
    {
        // A host may register a hand-written policy under its own key: that one is served too.
        if (!_keyed.IsKeyedService(typeof(ICachePolicy), policy))
            throw OpenAIRequestException.BadRequest(field, $"Unknown cache policy '{policy}' in '{field}'. Known: {string.Join(", ", Policies)}.");
    }
}
